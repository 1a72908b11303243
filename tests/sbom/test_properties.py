"""Metadata parsers never crash on arbitrary input: they warn and skip.

An image is untrusted input; one odd file must cost at most that file's packages.
"""

from __future__ import annotations

import contextlib
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oci_attest.sbom.catalogers.apk import ApkCataloger, parse_installed
from oci_attest.sbom.catalogers.base import FileInput
from oci_attest.sbom.catalogers.dpkg import DpkgCataloger, copyright_licenses, parse_status
from oci_attest.sbom.catalogers.golang import parse_modinfo
from oci_attest.sbom.catalogers.java import parse_manifest, parse_properties
from oci_attest.sbom.catalogers.npm import NpmCataloger, parse_package_json
from oci_attest.sbom.catalogers.python import PythonCataloger
from oci_attest.sbom.catalogers.rpm import parse_header_blob
from oci_attest.sbom.osrelease import parse_os_release
from oci_attest.sbom.tarscan import ChunkSource, TarReader

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

field_names = st.sampled_from(["Package", "Version", "Status", "Depends", "Source",
                               "Architecture", "Provides", "Pre-Depends", "Description", "X"])
field_values = st.text(alphabet=string.printable + "éü\u2028\x00", max_size=40)
paragraph = st.dictionaries(field_names, field_values, max_size=6)
status_text = st.lists(paragraph, max_size=5).map(
    lambda ps: "\n\n".join("\n".join(f"{k}: {v}" for k, v in p.items()) for p in ps))


@FAST
@given(st.one_of(status_text, st.text(max_size=300)).map(lambda t: t.encode("utf-8", "replace"))
       | st.binary(max_size=300))
def test_dpkg_status_never_raises(data: bytes) -> None:
    warnings: list[str] = []
    entries = parse_status(data, warnings.append, "/var/lib/dpkg/status")
    assert all(e.get("Package", "").strip() and e.get("Version", "").strip() for e in entries)
    found = DpkgCataloger().catalog(FileInput("var/lib/dpkg/status", 0, len(data), 0o644,
                                              data=data), warnings.append)
    assert found is not None
    assert all(p.name and p.version for p in found.packages)


@FAST
@given(st.binary(max_size=400))
def test_copyright_never_raises(data: bytes) -> None:
    assert isinstance(copyright_licenses(b"License: " + data + b"\n" + data), list)


metadata_lines = st.lists(st.tuples(
    st.sampled_from(["Name", "Version", "License", "License-Expression", "Requires-Dist",
                     "Classifier", "Author", "Summary", "Metadata-Version", ""]),
    st.text(max_size=40)), max_size=8).map(
    lambda items: "\n".join(f"{k}: {v}" for k, v in items))


@FAST
@given(st.one_of(metadata_lines, st.text(max_size=300)).map(str.encode) | st.binary(max_size=300))
def test_python_metadata_never_raises(data: bytes) -> None:
    warnings: list[str] = []
    cataloger = PythonCataloger()
    found = cataloger.catalog(FileInput("x/a-1.dist-info/METADATA", 0, len(data), 0o644,
                                        data=data), warnings.append)
    if found is not None:
        for package in found.packages:
            assert package.name.strip() and package.version.strip()
            package.purl(None)  # renderable
    cataloger.finish([], context=None)  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4), max_leaves=12)
manifests = st.fixed_dictionaries({}, optional={
    "name": st.text(max_size=20) | json_values, "version": st.text(max_size=10) | json_values,
    "license": json_values, "licenses": json_values, "author": json_values,
    "dependencies": json_values, "optionalDependencies": json_values,
    "description": json_values})


@FAST
@given(manifests.map(lambda m: json.dumps(m).encode()) | st.binary(max_size=200))
def test_package_json_never_raises(data: bytes) -> None:
    parsed = parse_package_json(data)
    found = NpmCataloger().catalog(FileInput("app/package.json", 0, len(data), 0o644, data=data),
                                   lambda _w: None)
    assert (found is None) == (parsed is None)
    if found is not None:
        assert [p.name for p in found.packages] == [parsed["name"].strip()]  # type: ignore[index]
        found.packages[0].purl(None)


@FAST
@given(st.sampled_from(["package-lock.json", "yarn.lock", "pnpm-lock.yaml"]),
       st.one_of(json_values.map(json.dumps), st.text(max_size=300)))
def test_lockfiles_never_raise(name: str, text: str) -> None:
    NpmCataloger().catalog(FileInput(f"app/{name}", 0, len(text), 0o644, data=text.encode()),
                           lambda _w: None)


@FAST
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_apk_database_never_raises(data: bytes) -> None:
    parse_installed(data)
    ApkCataloger().catalog(FileInput("lib/apk/db/installed", 0, len(data), 0o644, data=data),
                           lambda _w: None)


@FAST
@given(st.binary(max_size=300))
def test_rpm_header_blob_only_raises_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_header_blob(data)


@FAST
@given(st.text(max_size=300))
def test_small_text_formats_never_raise(text: str) -> None:
    parse_os_release(text)
    parse_manifest(text)
    parse_properties(text)
    info = parse_modinfo("go1.21.0", text)
    assert info.go_version == "go1.21.0"


@FAST
@given(st.binary(min_size=0, max_size=4096))
def test_tar_reader_never_raises_on_garbage(data: bytes) -> None:
    warnings: list[str] = []
    reader = TarReader(ChunkSource(iter([data[:1000], data[1000:]])), warnings.append, "l")
    for entry in reader:
        if entry.kind == "file" and entry.size < 10_000:
            reader.read_content()
    assert reader.entries >= 0
