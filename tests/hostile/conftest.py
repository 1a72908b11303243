"""The fault proxy in front of the real registry serves crafted bytes on chosen requests."""

from tests.faults.conftest import registry_proxy

__all__ = ["registry_proxy"]
