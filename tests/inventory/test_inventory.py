"""The inventory on SQLite and on a real PostgreSQL server: the same records give the same
answers, queries find what the real OSV records say, and a rescan reports exactly what is new."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from oci_attest.errors import InputError
from oci_attest.inventory import open_inventory, query
from oci_attest.inventory.base import ImageRecord, InventoryStore
from oci_attest.inventory.rescan import rescan
from oci_attest.vulns.store import AdvisoryStore
from tests.inventory.conftest import BACKENDS, attest
from tests.shared_vectors import shared_dir

LIBC = "pkg:deb/debian/libc6@2.36-9%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=glibc"
#: Three shipped images: an old release, a newer one, another repository sharing a package.
IMAGES = [
    ImageRecord("reg.test/shop/web", "sha256:" + "a" * 64, "reg.test/shop/web@sha256:" + "a" * 64,
                "test", ("1.0",), ("pkg:pypi/django@3.2", "pkg:pypi/jinja2@2.11.2",
                                    "pkg:golang/stdlib@1.19.8", LIBC)),
    ImageRecord("reg.test/shop/web", "sha256:" + "b" * 64, "reg.test/shop/web@sha256:" + "b" * 64,
                "test", ("1.1", "latest"), ("pkg:pypi/Django@4.2.11", "pkg:pypi/jinja2@3.1.2",
                                             LIBC)),
    ImageRecord("reg.test/ops/cron", "sha256:" + "c" * 64, "reg.test/ops/cron@sha256:" + "c" * 64,
                "test", ("v7",), ("pkg:pypi/jinja2@2.11.2", "pkg:generic/thing@1")),
]
A, B, C = (image.reference for image in IMAGES)


def _record_all(store: InventoryStore) -> None:
    for image in IMAGES:
        assert store.record_image(image)


def _answers(store: InventoryStore, vulndb: Path) -> dict[str, object]:
    advisories = AdvisoryStore(vulndb)

    def view(hits):
        return [{k: v for k, v in h.to_json().items() if k != "recordedAt"} for h in hits]

    return {
        "django": view(query.by_purl(store, "pkg:pypi/DJANGO")),
        "django-3.2": view(query.by_purl(store, "pkg:pypi/django@3.2")),
        "django<4": view(query.by_purl(store, "pkg:pypi/django", "vers:pypi/>=3.0|<4.0")),
        "libc6": view(query.by_purl(store, "pkg:deb/debian/libc6")),
        "none": view(query.by_purl(store, "pkg:npm/left-pad")),
        "cve": view(query.by_vuln(store, advisories, "CVE-2020-28493")),
        "ghsa": view(query.by_vuln(store, advisories, "GHSA-g3rq-g295-4j3m")),
        "pysec": view(query.by_vuln(store, advisories, "PYSEC-2021-66")),
    }


def test_queries_find_the_images_the_records_name(store, vulndb):
    _record_all(store)
    answers = _answers(store, vulndb)
    assert [(h["reference"], h["tags"], [c["purl"] for c in h["components"]])
            for h in answers["django"]] == [
        (A, ["1.0"], ["pkg:pypi/django@3.2"]), (B, ["1.1", "latest"], ["pkg:pypi/Django@4.2.11"])]
    assert [h["reference"] for h in answers["django-3.2"]] == [A]
    assert [h["reference"] for h in answers["django<4"]] == [A]
    assert [h["reference"] for h in answers["libc6"]] == [A, B]
    assert answers["none"] == []
    # PYSEC-2021-66 (CVE-2020-28493, GHSA-g3rq-g295-4j3m): jinja2 before 2.11.3.
    cve = answers["cve"]
    assert [(h["repository"], h["digest"]) for h in cve] == [
        ("reg.test/ops/cron", "sha256:" + "c" * 64), ("reg.test/shop/web", "sha256:" + "a" * 64)]
    assert {c["purl"]: (c["advisory"], c["fixed"]) for h in cve for c in h["components"]} == {
        "pkg:pypi/jinja2@2.11.2": ("PYSEC-2021-66", ["2.11.3"])}
    assert answers["ghsa"] == answers["pysec"] == cve


def test_sqlite_and_postgres_give_identical_answers(new_location, vulndb):
    answers = {}
    for backend in BACKENDS:
        opened = open_inventory(new_location(backend))
        _record_all(opened)
        answers[backend] = (_answers(opened, vulndb),
                            rescan(opened, AdvisoryStore(vulndb)).to_json())
        opened.close()
    assert answers["sqlite"] == answers["postgres"]
    assert any(image["findings"] for image in answers["sqlite"][1]["newImages"]), \
        "the comparison must cover real findings"


def test_tags_move_and_recording_again_changes_nothing(store):
    _record_all(store)
    assert not store.record_image(IMAGES[0])  # same digest, same components
    moved = ImageRecord(IMAGES[0].repository, IMAGES[0].digest, IMAGES[0].reference, "test",
                        ("latest",), IMAGES[0].purls)
    store.record_image(moved)
    tags = {h.reference: h.tags for h in query.by_purl(store, "pkg:pypi/django")}
    assert tags == {A: ["1.0", "latest"], B: ["1.1"]}
    assert store.image_count() == 3


def _new_record(osv_id: str, name: str, events: list[dict], modified: str, **extra) -> dict:
    return {"id": osv_id, "modified": modified, "summary": f"{name}: test advisory",
            "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": events}]}], **extra}


def _import(vulndb: Path, tmp_path: Path, records: list[dict]) -> dict[str, list[str]]:
    path = tmp_path / "new-records.json"
    path.write_text(json.dumps(records))
    result = AdvisoryStore(vulndb).import_paths([path])
    return {"added": result.added, "changed": result.changed}


def _new(result) -> list[tuple[str, str, str]]:
    return sorted((image.reference, c["purl"], c["advisory"])
                  for image in result.new for c in image.components)


def test_rescan_reports_exactly_the_new_finding(store, vulndb, tmp_path):
    _record_all(store)
    advisories = AdvisoryStore(vulndb)
    first = rescan(store, advisories)
    assert _new(first) == []  # new images are summarised, not listed finding by finding
    summary = {image["reference"]: image["findings"] for image in first.new_images}
    assert set(summary) == {A, B, C}
    assert summary[C] == {"unknown": 1}  # jinja2 2.11.2: PYSEC-2021-66, no severity given
    again = rescan(store, advisories)
    assert _new(again) == [] and again.new_images == []  # nothing happened since

    # A new advisory for jinja2 before 3.0, modelled on PYSEC-2021-66: held by images A and C.
    imported = _import(vulndb, tmp_path, [_new_record(
        "PYSEC-2099-1", "jinja2", [{"introduced": "0"}, {"fixed": "3.0.0"}],
        "2099-01-01T00:00:00Z", aliases=["CVE-2099-1111"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])])
    assert imported == {"added": ["PYSEC-2099-1"], "changed": []}
    second = rescan(store, advisories)
    assert _new(second) == [(C, "pkg:pypi/jinja2@2.11.2", "PYSEC-2099-1"),
                            (A, "pkg:pypi/jinja2@2.11.2", "PYSEC-2099-1")]
    assert second.advisories_changed == 1 and second.packages_matched == 0
    # Touched: the jinja2 package versions the record names (2) and the finding written (1).
    assert second.rows_touched == 3
    assert {c["severity"] for image in second.new for c in image.components} == {"critical"}

    # The range changes to include 3.1.2 too: only image B's jinja2 is new.
    _import(vulndb, tmp_path, [_new_record(
        "PYSEC-2099-1", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.3"}],
        "2099-02-01T00:00:00Z", aliases=["CVE-2099-1111"])])
    third = rescan(store, advisories)
    assert _new(third) == [(B, "pkg:pypi/jinja2@3.1.2", "PYSEC-2099-1")]

    # Withdrawn: its findings are resolved, nothing is new.
    _import(vulndb, tmp_path, [_new_record(
        "PYSEC-2099-1", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.3"}],
        "2099-03-01T00:00:00Z", withdrawn="2099-03-01T00:00:00Z")])
    fourth = rescan(store, advisories)
    assert _new(fourth) == [] and fourth.resolved == 2
    assert [c["advisory"] for h in query.by_vuln(store, advisories, "PYSEC-2021-66")
            for c in h.components] == ["PYSEC-2021-66", "PYSEC-2021-66"]


def test_a_second_record_of_a_known_vulnerability_is_not_news(store, vulndb, tmp_path):
    _record_all(store)
    advisories = AdvisoryStore(vulndb)
    rescan(store, advisories)
    # The GHSA twin of PYSEC-2021-66 (same CVE), published later as its own record.
    _import(vulndb, tmp_path, [_new_record(
        "GHSA-g3rq-g295-4j3m", "jinja2", [{"introduced": "0"}, {"fixed": "2.11.3"}],
        "2099-01-01T00:00:00Z", aliases=["CVE-2020-28493"])])
    assert _new(rescan(store, advisories)) == []


def test_new_images_since_the_last_rescan_are_reported(store, vulndb):
    store.record_image(IMAGES[1])
    advisories = AdvisoryStore(vulndb)
    rescan(store, advisories)
    store.record_image(IMAGES[2])
    later = rescan(store, advisories)
    assert _new(later) == [] and [i["reference"] for i in later.new_images] == [C]
    assert later.new_images[0]["tags"] == ["v7"]
    assert later.packages_matched == 2  # only the new image's packages were matched in full


def test_a_newer_schema_is_refused(backend, new_location):
    location = new_location(backend)
    opened = open_inventory(location)
    opened.query("INSERT INTO schema_migrations VALUES (?, ?)", (99, "2099-01-01T00:00:00Z"))
    opened.close()
    with pytest.raises(InputError, match="schema version 99"):
        open_inventory(location)


def test_cli_query_json_usage_errors_and_unknown_advisory(backend, new_location, vulndb):
    location = new_location(backend)
    opened = open_inventory(location)
    _record_all(opened)
    opened.close()
    done = attest("inventory", "query", "--vuln", "CVE-2020-28493", "--inventory", location,
                  "--vulndb", str(vulndb), "--format", "json")
    assert done.returncode == 0, done.stderr
    images = json.loads(done.stdout)["images"]
    assert [i["reference"] for i in images] == [C, A]
    assert all({"reference", "digest", "components", "tags"} <= set(i) for i in images)
    neither = attest("inventory", "query", "--inventory", location)
    assert neither.returncode == 2 and "exactly one of --purl and --vuln" in neither.stderr
    bad_vers = attest("inventory", "query", "--purl", "pkg:pypi/django", "--versions", "pypi<4",
                      "--inventory", location)
    assert bad_vers.returncode == 2 and "--versions" in bad_vers.stderr
    unknown = attest("inventory", "query", "--vuln", "CVE-1999-0000", "--inventory", location,
                     "--vulndb", str(vulndb))
    assert unknown.returncode == 3 and "Traceback" not in unknown.stderr
    assert "CVE-1999-0000 is not in the advisory database" in unknown.stderr


def test_rescan_cli_fails_on_new_high_findings_only(backend, new_location, vulndb, tmp_path):
    location = new_location(backend)
    opened = open_inventory(location)
    opened.record_image(IMAGES[2])
    opened.close()
    args = ("rescan", "--inventory", location, "--vulndb", str(vulndb), "--fail-on", "critical")
    first = attest(*args, "--format", "json")
    assert first.returncode == 0, first.stdout + first.stderr  # jinja2 2.11.2: no critical
    assert json.loads(first.stdout)["newImages"][0]["findings"] == {"unknown": 1}
    _import(vulndb, tmp_path, [_new_record(
        "PYSEC-2099-2", "jinja2", [{"introduced": "0"}, {"fixed": "3.0.0"}],
        "2099-01-01T00:00:00Z",
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])])
    summary = tmp_path / "summary.md"
    alert = attest(*args, env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)})
    assert alert.returncode == 1, alert.stderr
    assert "PYSEC-2099-2" in alert.stdout and "1 new findings" in alert.stdout
    assert f"| {C} | pkg:pypi/jinja2@2.11.2 | PYSEC-2099-2 | critical | 3.0.0 |" \
        in summary.read_text()
    assert attest(*args).returncode == 0  # already reported


def test_postgres_password_is_never_printed(postgres_url):
    url = postgres_url.replace("attest@", "attest:hunter2secret@").rsplit("/", 1)[0] \
        + "/no_such_db"
    done = attest("inventory", "query", "--purl", "pkg:pypi/x", "--inventory", url)
    assert done.returncode == 3, done.stderr
    assert "hunter2secret" not in done.stderr + done.stdout
    assert "attest:***@127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_osv_names_used_here_are_real():
    """The records the tests lean on are in the shared export as the tests assume."""
    with zipfile.ZipFile(shared_dir() / "vulndb" / "osv" / "PyPI" / "all.zip") as archive:
        record = json.loads(archive.read("PYSEC-2021-66.json"))
    assert {"CVE-2020-28493", "GHSA-g3rq-g295-4j3m"} <= set(record["aliases"])


def test_sqlite_queries_are_index_lookups(new_location, vulndb):
    """Every statement a query runs is answered from an index: no table is scanned."""
    opened = open_inventory(new_location("sqlite"))
    _record_all(opened)
    statements: list[str] = []
    opened._db.set_trace_callback(statements.append)
    query.by_purl(opened, "pkg:pypi/django", "vers:pypi/<4")
    query.by_vuln(opened, AdvisoryStore(vulndb), "CVE-2020-28493")
    opened._db.set_trace_callback(None)
    assert len(statements) >= 4
    for sql in statements:
        plan = [row[3] for row in opened._db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert not [step for step in plan if step.startswith("SCAN")], (sql, plan)
        assert any(step.startswith("SEARCH") for step in plan), (sql, plan)
    opened.close()


def test_a_file_that_is_not_an_inventory_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 20)
    done = attest("inventory", "query", "--purl", "pkg:pypi/django", "--inventory", str(path))
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert f"cannot open the inventory {path}" in done.stderr
