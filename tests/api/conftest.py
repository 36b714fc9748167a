"""Fixtures shared by the API tests."""

from tests.api.test_roles import desk  # noqa: F401 (a desk with a message, a request and an upload)
