"""Shared test configuration: fixtures live in plugins under tests/fixtures/, one per area."""

import pytest

from tests.prerequisites import check_marks

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.sbom",
    "tests.fixtures.sigstore",
    "tests.fixtures.verify",
]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``prerequisite``: skip locally, fail in CI (see tests/prerequisites.py)."""
    check_marks(item)
