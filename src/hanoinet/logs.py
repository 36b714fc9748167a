"""What the node logs, and what it never does: one configuration for structlog and the standard library.

A log is read by more people than the node's officers (operators, hosting staff, whoever collects the files), so
nothing in it may open the node or a victim's case (docs/operations.md, "What is logged and what never is"):

- **No local variables and no exception messages.** An unhandled error is one line: an error id, the exception's
  type and the file:line where it was raised (and the innermost line of hanoinet's own code on the way there).
  A traceback's local variables hold the request (its ``Authorization`` header, its body) and an exception's
  message may quote the data that broke it, so neither is written. With ``debug_tracebacks`` the frames
  follow, still without either.
- **Redaction.** Every value logged under a key named like a token, secret, passphrase, password,
  authorization, cookie, capability or body is replaced by :data:`REDACTED`, at any depth; every string anywhere
  in a log line is searched for the shapes of the project's secrets (officers' ``hnt_`` and platforms' ``hnp_``
  tokens, victims' case secrets, JWS capabilities, ``Bearer`` credentials, a URL's password or secret query
  parameters) and they are replaced too. Alarms and audit entries, which the node keeps, pass the same filter.

:func:`configure` installs it for a process: the CLI at each command, ``hanoinet serve`` again with the node's
``debug_tracebacks`` setting.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

#: What replaces a secret.
REDACTED = "[redacted]"

#: Keys whose values are never logged, whatever they hold (matched anywhere in the key, any case).
SECRET_KEY = re.compile(
    r"token|secret|passphrase|password|passwd|authori[sz]ation|cookie|capability|credential|api_?key|body",
    re.IGNORECASE)

# The shapes of the secrets the project issues. Tests tie each one to the function that makes the secret.
_ALPHABET = "2-9A-HJ-NP-Z"  # victims' case secrets: hanoinet.victims.cases.ALPHABET, without 0, 1, I, O
_GROUP = f"[{_ALPHABET}]{{4}}"
_SECRET_SHAPES = re.compile(
    "|".join((
        # Officers' (hnt_) and platforms' (hnp_) API tokens: prefix + token_urlsafe(32).
        r"hn[tp]_[A-Za-z0-9_-]{8,}",
        # A victim's case secret, 5 groups of 4 as shown, or typed with spaces or none, either case. One
        # separator throughout, and not inside a longer word, a UUID or base64 text (hashes, ids, roots).
        rf"(?i:(?<![A-Za-z0-9+/_-]){_GROUP}(?:-{_GROUP}-{_GROUP}-{_GROUP}-{_GROUP}| {_GROUP} {_GROUP} {_GROUP} "
        rf"{_GROUP}|[{_ALPHABET}]{{16}})(?![A-Za-z0-9+/=_-]))",
        # A compact JWS or JWT (evidence capabilities are bearer credentials for a peer): header.payload.sig.
        r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+",
    )))
# What follows an HTTP authorization scheme (Authorization: Bearer ..., Capability ...): an RFC 9110 token68.
_CREDENTIALS = re.compile(r"\b((?:bearer|capability) +)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
#: No secret above fits in fewer characters ("?body=x" is the shortest): shorter text is returned at once.
_SHORTEST = 7
# A URL's password (scheme://user:PASSWORD@host) and the values of query parameters named like secrets.
_URL_PASSWORD = re.compile(r"(?<=://)([^/@\s:]+):[^/@\s]+@")
_SECRET_PARAMETER = re.compile(rf"([?&;][^=&\s]*(?:{SECRET_KEY.pattern})[^=&\s]*=)[^&#\s]*", re.IGNORECASE)

#: Attribute set on an exception once it was logged with an error id, so that it is not logged again.
_ERROR_ID = "_hanoinet_error_id"


def redact_text(text: str) -> str:
    """``text`` with every substring shaped like one of the project's secrets replaced by :data:`REDACTED`."""
    if len(text) < _SHORTEST:
        return text
    text = _CREDENTIALS.sub(rf"\1{REDACTED}", _SECRET_SHAPES.sub(REDACTED, text))
    if "://" in text:  # the cheap tests spare most lines the regular expressions
        text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    return _SECRET_PARAMETER.sub(rf"\1{REDACTED}", text) if "=" in text else text


def redact(value: Any, *, key: str = "") -> Any:
    """``value`` with secrets replaced: everything under a secret-named key, secret-shaped text everywhere.

    Mappings, lists, tuples and sets are copied, never changed in place; bytes are never logged (only their
    length); other objects are kept, except that their text is redacted when they are rendered as text.
    """
    if key and SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes]"
    if isinstance(value, Mapping):
        return {k: redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact(v) for v in value)
    return value


def new_error_id() -> str:
    """A short random id, quoted in the log line and in the caller's problem body: 12 hexadecimal digits."""
    return secrets.token_hex(6)


def mark_logged(exc: BaseException, error_id: str) -> None:
    """Remember that ``exc`` was logged under ``error_id`` (a server logging it again drops it)."""
    setattr(exc, _ERROR_ID, error_id)


def logged_id(exc: BaseException) -> str | None:
    """The error id ``exc`` was logged under, if it was."""
    found = getattr(exc, _ERROR_ID, None)
    return found if isinstance(found, str) else None


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _short_path(filename: str) -> str:
    # Relative to the import root it was loaded from (site-packages, src, the standard library): shorter, and
    # it does not tell a log reader where the node is installed.
    best = ""
    for entry in sys.path:
        root = str(Path(entry or ".").resolve())
        if filename.startswith(root.rstrip("/") + "/") and len(root) > len(best):
            best = root
    return filename[len(best.rstrip("/")) + 1:] if best else Path(filename).name


_OWN_CODE = str(Path(__file__).resolve().parent) + "/"


def describe(exc: BaseException) -> dict[str, str]:
    """The exception as logged: its type, where it was raised, where it left hanoinet's code, and its cause's type.

    Never its message, nor any value of its frames.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    facts = {"error_type": _type_name(exc)}
    if frames:
        innermost = frames[-1]
        facts["error_at"] = f"{_short_path(innermost.filename)}:{innermost.lineno}"
        ours = [f for f in frames if f.filename.startswith(_OWN_CODE)]
        if ours and ours[-1] is not innermost:
            facts["error_via"] = f"{_short_path(ours[-1].filename)}:{ours[-1].lineno}"
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None:
        facts["error_cause"] = _type_name(cause)
    return facts


def frames_text(exc: BaseException) -> str:
    """The traceback of ``exc`` and of the exceptions that led to it: frames and source lines, no values."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts: list[str] = []
    for link in reversed(chain):
        if parts:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_list(traceback.extract_tb(link.__traceback__)))
        parts.append(f"{_type_name(link)} (its message is not logged)\n")
    return "".join(parts).rstrip("\n")


def _exception_of(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


class SummariseExceptions:
    """structlog processor: an exception becomes fields of the line (id, type, place), never a rich traceback.

    Replaces the default renderer's traceback, which prints every frame's local variables (structlog's
    ``RichTracebackFormatter`` has ``show_locals=True``): thousands of lines, with the request in them.
    """

    def __init__(self, *, debug: bool) -> None:
        self.debug = debug

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        """Replace ``exc_info`` (and a pre-rendered ``exception``) by the summary of the exception."""
        exc = _exception_of(event_dict.pop("exc_info", None))
        event_dict.pop("exception", None)
        if exc is None:
            return event_dict
        error_id = str(event_dict.setdefault("error_id", logged_id(exc) or new_error_id()))
        mark_logged(exc, error_id)
        event_dict.update(describe(exc))
        if self.debug:
            event_dict["exception"] = frames_text(exc)
        return event_dict


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: :func:`redact` on every field of the line (the event text included)."""
    return {key: redact(value, key=key if key != "exception" else "") for key, value in event_dict.items()}


def _summary(exc: BaseException, *, debug: bool) -> str:
    # The text of an exception for the standard library's loggers: the id first; the frames below in debug mode.
    error_id = logged_id(exc) or new_error_id()
    mark_logged(exc, error_id)
    line = " ".join(f"{k}={v}" for k, v in {"error_id": error_id, **describe(exc)}.items())
    return line + ("\n" + frames_text(exc) if debug else "")


class SafeFormatter(logging.Formatter):
    """A standard-library formatter with the same rules: exceptions summarised, secrets redacted."""

    def __init__(self, *, debug: bool) -> None:
        super().__init__("%(asctime)s [%(levelname)-8s] %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
        self.converter = time.gmtime
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line, redacted, its exception summarised on it (the frames follow in debug mode)."""
        # Formatted without the exception, and without the traceback another handler may have cached on it.
        cached = record.exc_text, record.exc_info
        record.exc_text, record.exc_info = None, None
        try:
            line = super().format(record)
        finally:
            record.exc_text, record.exc_info = cached
        exc = _exception_of(cached[1])
        if exc is not None:
            line += " " + _summary(exc, debug=self.debug)
        return redact_text(line)


class ScrubRecords(logging.Filter):
    """Make a library logger's records safe before any handler formats them (uvicorn's handlers use their own
    formatters): text redacted, an exception reduced to its one-line summary, and an exception the node already
    logged with an error id (uvicorn logs again what the application re-raises) dropped."""

    def __init__(self, *, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; False to drop it."""
        exc = _exception_of(record.exc_info)
        if exc is not None and logged_id(exc) is not None:
            return False
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: a filter must not break the caller
            message = str(record.msg)
        message = redact_text(message).rstrip("\n")
        if exc is not None:
            message += " " + _summary(exc, debug=self.debug)
        record.msg, record.args, record.exc_info, record.exc_text = message, (), None, None
        return True


#: Library loggers that have handlers of their own (uvicorn's), so the root handler's formatter does not cover
#: them: their records are scrubbed at the source.
SCRUBBED_LOGGERS = ("uvicorn.error",)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at each record (a test, or a caller, may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record and a newline."""
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging's own convention: report it, never raise into the caller
            self.handleError(record)


def configure(*, debug: bool = False) -> None:
    """Configure this process's logs: structlog and the standard library, to standard error, with the rules above.

    Calling it again (``serve`` does, once it has read ``debug_tracebacks``) replaces the previous configuration.
    """
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.dev.set_exc_info,
            SummariseExceptions(debug=debug),
            redact_event,
            structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%SZ", utc=True),
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ],
        # The stream is looked up at each log call, not now, so that a caller who swaps sys.stderr gets the logs.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # A handler that fails (a closed stream, a full disk) must not print its error: Python would print it with
    # the exception being handled when the record was logged, message and all.
    logging.raiseExceptions = False
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(SafeFormatter(debug=debug))
    root.addHandler(handler)
    for name in SCRUBBED_LOGGERS:
        library = logging.getLogger(name)
        for old in [f for f in library.filters if isinstance(f, ScrubRecords)]:
            library.removeFilter(old)
        library.addFilter(ScrubRecords(debug=debug))
