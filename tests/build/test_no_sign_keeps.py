"""``attest build --no-sign`` without ``-o``: the unsigned statements are the only result, so
they are kept and the warning names the directory that holds them (they used to be deleted
while the warning said they were in "the output directory")."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli

pytestmark = pytest.mark.integration


def test_unsigned_statements_are_kept_where_the_warning_says(scratch_project, registry):
    result = CliRunner().invoke(cli, ["build", str(scratch_project), "-t",
                                      f"{registry.host}/nosign/app:1", "--no-sign",
                                      "--no-sbom"])
    assert result.exit_code == 0, result.output
    match = re.search(r"they are kept in (\S+) only", result.stderr)
    assert match, result.stderr
    kept = Path(match.group(1))
    try:
        statement = json.loads((kept / "provenance.intoto.json").read_text())
        assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    finally:
        shutil.rmtree(kept, ignore_errors=True)
