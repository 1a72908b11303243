"""The job-summary helper: appends, escapes attacker text, never fails the command."""

from __future__ import annotations

from oci_attest import step_summary


def test_append_only_when_the_variable_is_set(tmp_path):
    target = tmp_path / "summary.md"
    target.write_text("before\n")
    assert step_summary.append("### hi", {}) is False
    assert step_summary.append("### hi", {"GITHUB_STEP_SUMMARY": str(target)}) is True
    assert target.read_text() == "before\n### hi\n\n"


def test_an_unwritable_summary_is_a_warning_not_a_failure(tmp_path, caplog):
    assert step_summary.append("x", {"GITHUB_STEP_SUMMARY": str(tmp_path)}) is False
    assert "could not append" in caplog.text


def test_hostile_text_stays_text_in_one_table_cell():
    cell = step_summary.md("<img src=x onerror=alert(1)>|[x](javascript:1)\n# h")
    assert "<" not in cell and "\n" not in cell
    assert "\\|" in cell and "\\[x\\]\\(javascript:1\\)" in cell
    rendered = step_summary.table(["a"], [["x|y"]])
    assert rendered.splitlines()[-1] == "| x\\|y |"
