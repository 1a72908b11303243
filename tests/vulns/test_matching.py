"""Version orders and OSV range evaluation, on records shaped like real ones."""

from __future__ import annotations

import json

import pytest

from oci_attest.vulns.match import component_from_purl, match_components
from oci_attest.vulns.osv import AffectedPackage
from oci_attest.vulns.store import AdvisoryStore
from oci_attest.vulns.versions import order_for


@pytest.mark.parametrize(("ecosystem", "low", "high"), [
    ("Debian:12", "1:1.0-1", "1:1.0-1+deb12u1"),
    ("Debian:12", "2.36-9+deb12u13", "2.36-9+deb12u99"),
    ("Debian:12", "3.0~rc1-1", "3.0-1"),           # tilde sorts before the release
    ("Debian:12", "9.9-1", "1:0.1-1"),             # the epoch wins
    ("PyPI", "1.0rc1", "1.0"),
    ("PyPI", "1.0", "1.0.post1"),
    ("Go", "v0.0.0-20220101000000-abcdef123456", "v0.1.0"),  # pseudo-version
    ("Go", "go1.21.3", "1.21.10"),                 # stdlib spelling
    ("npm", "1.0.0-beta.2", "1.0.0"),
    ("Maven", "1.0-SNAPSHOT", "1.0"),
    ("Alpine:v3.19", "1.2.3-r9", "1.2.3-r10"),
    ("RubyGems", "1.0.0.pre", "1.0.0"),
])
def test_each_ecosystem_orders_versions_its_own_way(ecosystem, low, high):
    order = order_for(ecosystem)
    assert order is not None
    assert order.key(low) < order.key(high)


def test_ranges_introduced_fixed_last_affected_limit_and_versions():
    zope = AffectedPackage("PyPI", "zope", ({"type": "ECOSYSTEM", "events": [
        {"introduced": "4.0"}, {"fixed": "4.6.3"}, {"introduced": "5.0"}, {"fixed": "5.3"}]},),
        frozenset())
    assert [v for v in ("3.9", "4.0", "4.6.2", "4.6.3", "5.0", "5.2.9", "5.3")
            if zope.affects(v)[0]] == ["4.0", "4.6.2", "5.0", "5.2.9"]
    assert zope.affects("4.1") == (True, ("4.6.3", "5.3"))
    assert zope.affects("5.1") == (True, ("5.3",))
    last = AffectedPackage("Go", "example.com/m", ({"type": "SEMVER", "events": [
        {"introduced": "0"}, {"last_affected": "1.2.0"}]},), frozenset())
    assert last.affects("v1.2.0")[0] and not last.affects("v1.2.1")[0]
    limited = AffectedPackage("Go", "example.com/m", ({"type": "SEMVER", "events": [
        {"introduced": "1.0.0"}, {"limit": "1.5.0"}]},), frozenset())
    assert limited.affects("1.4.0")[0] and not limited.affects("1.5.0")[0]
    listed = AffectedPackage("PyPI", "x", ({"type": "GIT", "events": [{"introduced": "0"}]},),
                             frozenset({"2.0"}))
    assert listed.affects("2.0")[0] and not listed.affects("2.1")[0]


def _record(osv_id, ecosystem, name, events, **extra):
    return {"id": osv_id, "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": events}]}], **extra}


def test_purls_map_to_osv_names_and_debian_uses_the_source_package():
    assert component_from_purl("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1").name \
        == "org.apache.logging.log4j:log4j-core"
    assert component_from_purl("pkg:npm/%40babel/traverse@7.23.1").name == "@babel/traverse"
    assert component_from_purl("pkg:pypi/Ruamel.YAML@0.17.21").name == "ruamel-yaml"
    libssl = component_from_purl(
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl")
    assert (libssl.ecosystem, libssl.release, libssl.name, libssl.version) == (
        "Debian", "12", "openssl", "3.0.11-1~deb12u2")
    binnmu = component_from_purl(
        "pkg:deb/debian/libfoo1@1.0-1%2Bb1?distro=debian-12&upstream=foo%401.0-1")
    assert (binnmu.name, binnmu.version) == ("foo", "1.0-1")
    assert component_from_purl("pkg:generic/thing@1") is None


def test_store_matches_merges_aliases_skips_withdrawn_and_reimports_incrementally(tmp_path):
    # Modelled on DSA-5514-1 (glibc, Debian 12) and its CVE; a second record of the same CVE
    # from another publisher must merge into one finding.
    records = [
        _record("DSA-5514-1", "Debian:12", "glibc",
                [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}], aliases=["CVE-2023-4911"]),
        _record("DEBIAN-CVE-2023-4911", "Debian:12", "glibc",
                [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}], aliases=["CVE-2023-4911"],
                severity=[{"type": "CVSS_V3",
                           "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}]),
        _record("DSA-0000-1", "Debian:11", "glibc", [{"introduced": "0"}, {"fixed": "9"}]),
        _record("DSA-0001-1", "Debian:12", "glibc", [{"introduced": "0"}, {"fixed": "2.0-1"}]),
        _record("GONE-1", "Debian:12", "glibc", [{"introduced": "0"}],
                withdrawn="2024-02-01T00:00:00Z"),
    ]
    (tmp_path / "records.json").write_text(json.dumps(records))
    store = AdvisoryStore(tmp_path / "db")
    first = store.import_paths([tmp_path / "records.json"])
    assert len(first.added) == 5
    purl = "pkg:deb/debian/libc6@2.36-9%2Bdeb12u2?arch=amd64&distro=debian-12&upstream=glibc"
    (finding,) = match_components(store, [purl])
    assert finding.id == "DEBIAN-CVE-2023-4911" or finding.id == "DSA-5514-1"
    assert {finding.id, *finding.aliases} == {"DSA-5514-1", "DEBIAN-CVE-2023-4911",
                                              "CVE-2023-4911"}
    assert finding.fixed == ["2.36-9+deb12u3"]
    assert (finding.severity.level, finding.severity.score) == ("high", 7.8)
    assert set(store.ids_for_alias("CVE-2023-4911")) == {"DSA-5514-1", "DEBIAN-CVE-2023-4911"}

    records[3]["affected"][0]["ranges"][0]["events"][1]["fixed"] = "2.36-9+deb12u9"
    (tmp_path / "records.json").write_text(json.dumps(records))
    again = store.import_paths([tmp_path / "records.json"])
    assert (again.added, again.changed, again.unchanged) == ([], ["DSA-0001-1"], 4)
    assert {f.id for f in match_components(store, [purl])} >= {"DSA-0001-1"}
