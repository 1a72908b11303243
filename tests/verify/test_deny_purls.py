"""The SBOM deny list compares parsed, normalised purls, never raw text.

Every spelling below names the same package as the rule (per the purl spec: percent-decoding,
``pkg://`` and ``pkg:/``, case); each must be denied. A purl that does not parse is reported,
and denied when its name could be the denied package's.
"""

from __future__ import annotations

import pytest

from oci_attest.statements import ParsedStatement
from oci_attest.verify.checks import check_denied_components
from oci_attest.verify.policy import parse_denied
from oci_attest.verify.results import Examined
from oci_attest.verify.statements import Component, sbom_components

OPENSSL = parse_denied("pkg:deb/debian/openssl@vers:deb/<3.0.15", "test")
EXAMINED = Examined(location="sbom", layout="file")


def check(rule, *components: Component):
    return check_denied_components([rule], list(components), EXAMINED)


@pytest.mark.parametrize("text", [
    "pkg:deb/debian/openssl@3.0.11",
    "pkg:deb/debian/%6Fpenssl@3.0.11",
    "pkg://deb/debian/openssl@3.0.11",
    "pkg:/deb/debian/openssl@3.0.11",
    "pkg:DEB/Debian/OpenSSL@3.0.11",
    "pkg:deb/debian/%6F%70%65%6E%73%73%6C@3.0.11",
    "pkg:deb/openssl@3.0.11",  # no distribution named: could be Debian's
    "pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl",
    "pkg:deb/debian/libssl3@3.0.11-1?upstream=%6Fpenssl%403.0.11-1",
])
def test_equivalent_spellings_are_denied(text):
    result = check(OPENSSL, Component(text=text, name="x"))
    assert not result.passed, text
    assert "3.0.11" in result.reason


def test_fixed_version_and_other_distributions_pass():
    result = check(OPENSSL, Component(text="pkg:deb/debian/openssl@3.0.15-1", name="openssl"),
                   Component(text="pkg:rpm/fedora/openssl@1.0", name="openssl"),
                   Component(text="pkg:deb/ubuntu/openssl@1.0", name="openssl"))
    assert result.passed, result.reason


@pytest.mark.parametrize(("rule", "component"), [
    ("pkg:deb/debian/libstdc++6", "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14"),
    ("pkg:deb/debian/libstdc%2B%2B6", "pkg:deb/debian/libstdc++6@12.2.0-14"),
    ("pkg:pypi/ruamel-yaml@vers:pypi/<0.18", "pkg:pypi/ruamel.yaml@0.17.21"),
    ("pkg:pypi/ruamel.yaml@vers:pypi/<0.18", "pkg:pypi/Ruamel__Yaml@0.17.21"),
])
def test_rule_and_component_spelt_differently(rule, component):
    assert not check(parse_denied(rule, "test"), Component(text=component, name="x")).passed


def test_debian_source_package_from_the_sbom_denies_its_binaries():
    libssl = Component(text="pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64",
                       name="libssl3", source="openssl")
    result = check(OPENSSL, libssl)
    assert not result.passed
    assert "libssl3@3.0.11-1~deb12u2" in result.reason


def test_cyclonedx_source_property_is_read():
    predicate = {"bomFormat": "CycloneDX", "components": [
        {"name": "libssl3", "purl": "pkg:deb/debian/libssl3@3.0.11-1",
         "properties": [{"name": "attest:deb:source", "value": "openssl"}]}]}
    statement = ParsedStatement(type="t", subjects=(), predicate_type="p", predicate=predicate)
    (component,) = sbom_components(statement)
    assert component.source == "openssl"
    assert not check(OPENSSL, component).passed


@pytest.mark.parametrize(("text", "name"), [
    ("PKG:deb/debian/openssl@3.0.11", "openssl"),
    ("pkg:deb/debian/openssl@3.0.11?arch", "something else"),
    ("openssl 3.0.11", "openssl"),
])
def test_unparseable_purl_is_denied_when_its_name_could_match(text, name):
    result = check(OPENSSL, Component(text=text, name=name))
    assert not result.passed
    assert "purl does not parse" in result.reason and "does not parse: " in result.reason


def test_unparseable_purl_is_reported_even_when_nothing_is_denied():
    result = check(OPENSSL, Component(text="pkg:1bad/x@1", name="zlib"),
                   Component(text="pkg:deb/debian/zlib1g@1.2", name="zlib1g"))
    assert result.passed
    assert "1 components have a purl that does not parse: 'pkg:1bad/x@1'" in result.reason


def test_components_nested_deeper_than_before_are_still_read():
    inner: dict = {"name": "openssl", "purl": "pkg:deb/debian/openssl@3.0.11"}
    for _ in range(40):
        inner = {"name": "wrapper", "components": [inner]}
    predicate = {"bomFormat": "CycloneDX", "components": [inner]}
    statement = ParsedStatement(type="t", subjects=(), predicate_type="p", predicate=predicate)
    assert not check(OPENSSL, *sbom_components(statement)).passed
