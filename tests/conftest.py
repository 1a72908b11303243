"""Shared test configuration: fixtures live in plugins under tests/fixtures/, one per area."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.sbom",
    "tests.fixtures.sigstore",
    "tests.fixtures.verify",
]
