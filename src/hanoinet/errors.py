"""One error family for the whole node.

Every error a user can meet carries a stable machine ``code``, a message saying what was wrong, and a
``hint`` saying what to do next. The CLI prints them once; the API turns them into RFC 9457 problem
documents. Nothing else should be shown to a user.
"""

from __future__ import annotations


class HanoinetError(Exception):
    """Base class of every error the node reports to a person or a peer."""

    code: str = "error"
    http_status: int = 400

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code


class ConfigurationError(HanoinetError):
    """The node's configuration or data directory is missing or wrong."""

    code = "configuration"
    http_status = 500


class KeyStoreError(HanoinetError):
    """A private key could not be read, decrypted or written."""

    code = "keystore"
    http_status = 500


class ValidationError(HanoinetError, ValueError):
    """Input from a person or a peer does not have the expected form.

    Also a ``ValueError``, so that pydantic models using our validators report it as a field error.
    """

    code = "invalid"
    http_status = 422


class EnvelopeRefused(HanoinetError):
    """A peer's envelope is refused; ``code`` names the reason (docs/protocol.md, section Errors)."""

    code = "envelope_refused"
    http_status = 400


class DirectoryError(HanoinetError):
    """A directory document or member card is invalid, outdated or untrusted."""

    code = "directory"
    http_status = 400


class NotFound(HanoinetError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"
    http_status = 404


class Forbidden(HanoinetError):
    """The caller is authenticated but their role or desk does not allow this."""

    code = "forbidden"
    http_status = 403


class Unauthenticated(HanoinetError):
    """No valid credential was presented."""

    code = "unauthenticated"
    http_status = 401


class MissingToken(Unauthenticated):
    """No credential at all was presented (rather than one that was refused)."""


class Conflict(HanoinetError):
    """The request contradicts what the node already holds."""

    code = "conflict"
    http_status = 409


class TransportError(HanoinetError):
    """A peer could not be reached or answered something unusable."""

    code = "transport"
    http_status = 502
