"""The sender tests use the service tests' real Orthanc fixture."""

from tests.service.conftest import orthanc

__all__ = ["orthanc"]
