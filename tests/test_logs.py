"""hanoinet.logs: the secrets the project issues never survive redaction, ids and hashes do, and an exception
is logged as one line without its message or any local value, through structlog and the standard library."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import logging.config
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.config import LOGGING_CONFIG

from hanoinet import logs
from hanoinet.crypto.keys import KeyPair
from hanoinet.hashbank import platforms
from hanoinet.ids import uuid7
from hanoinet.ledger.log import Sequencer
from hanoinet.node import officers
from hanoinet.node.node import Node
from hanoinet.victims.cases import new_secret
from tests.support import make_node, reset_logs

#: What a secret may be surrounded by in a log line: words, punctuation, JSON, a header, a URL. A victim's
#: secret is recognised as a word of its own (not inside an id or base64 text), so a separator touches it.
_TEXT = st.text(alphabet=st.sampled_from(" \n\t\"'=:,;()[]{}<>abcXYZ019"), max_size=12)
_BEFORE = st.tuples(_TEXT, st.sampled_from(" \n\t\"'=:,;([{<&?#")).map("".join)
_AFTER = st.tuples(st.sampled_from(" \n\t\"':,;)]}>&#."), _TEXT).map("".join)


def _variants(secret: str) -> list[str]:
    """A victim's secret as shown, and as a victim may type it."""
    bare = secret.replace("-", "")
    return [secret, secret.lower(), bare, bare.lower(), secret.replace("-", " ")]


@given(before=_BEFORE, after=_AFTER)
def test_every_token_and_secret_the_project_issues_is_redacted(before: str, after: str) -> None:
    issued = [officers.issue_token(officers.TOKEN_PREFIX)[0], officers.issue_token(platforms.TOKEN_PREFIX)[0],
              *_variants(new_secret())]
    for secret in issued:
        text = logs.redact_text(before + secret + after)
        assert secret not in text and logs.REDACTED in text


@given(st.binary(min_size=16, max_size=64))
def test_ids_hashes_and_roots_are_kept(data: bytes) -> None:
    # Alarms and audit entries are redacted before they are stored: their ids and hashes must come through.
    kept = [uuid7(), hashlib.sha256(data).hexdigest(), data.hex(), base64.b64encode(data).decode(),
            base64.urlsafe_b64encode(data).decode(), "BRA-7K3M-Q9XD", "2026-12-07T23:10:00Z"]
    for value in kept:
        assert logs.redact_text(f"id {value}, next") == f"id {value}, next"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
    ("authorization: capability eyJhbGciOiJFUzI1NiJ9.eyJvZmZlciI6MX0.c2ln",
     "authorization: capability [redacted]"),
    ("pull with eyJhbGciOiJFUzI1NiJ9.eyJvZmZlciI6MX0.c2ln", "pull with [redacted]"),
    ("smtp://alerts:hunter2@mail.example.org:25", "smtp://alerts:[redacted]@mail.example.org:25"),
    ("GET /api/v1/x?desk=247&api_token=abc&x=1", "GET /api/v1/x?desk=247&api_token=[redacted]&x=1"),
    ("https://dir.example.org/v?Passphrase=p#top", "https://dir.example.org/v?Passphrase=[redacted]#top"),
    ("an ordinary line, 12 files, 3 bytes", "an ordinary line, 12 files, 3 bytes"),
])
def test_secret_shapes_in_text(text: str, expected: str) -> None:
    assert logs.redact_text(text) == expected


def test_values_under_secret_keys_are_redacted_at_any_depth_and_nothing_is_changed_in_place() -> None:
    detail = {"peer": "FRA", "webhook_secret": "s3cr3t",
              "nested": {"Authorization": "x", "ok": [1, "hnt_abcdefghijkl"]}, "request_body": {"case": "c"},
              "cookies": ["a"], "raw": b"\x00\x01", "pair": ("a", "hnp_abcdefghijkl")}
    assert logs.redact(detail) == {
        "peer": "FRA", "webhook_secret": "[redacted]",
        "nested": {"Authorization": "[redacted]", "ok": [1, "[redacted]"]}, "request_body": "[redacted]",
        "cookies": "[redacted]", "raw": "[2 bytes]", "pair": ("a", "[redacted]")}
    assert detail["webhook_secret"] == "s3cr3t"


@pytest.fixture
def configured() -> Iterator[None]:
    yield
    reset_logs()


def _fail_holding(token: str) -> None:
    request = {"headers": {"authorization": f"Bearer {token}"}, "body": token}  # what a traceback's locals show
    raise ValueError(f"cannot read {request}")


def _unhandled(token: str) -> None:
    try:
        _fail_holding(token)
    except ValueError as exc:
        raise RuntimeError("while handling " + token) from exc


@pytest.mark.parametrize("debug", [False, True])
def test_an_exception_is_one_line_with_id_type_and_place_and_without_values_or_message(
        configured: None, capsys: pytest.CaptureFixture[str], debug: bool) -> None:
    token = officers.issue_token(officers.TOKEN_PREFIX)[0]
    marker = token.removeprefix(officers.TOKEN_PREFIX)  # the part no redaction pattern would know
    logs.configure(debug=debug)
    try:
        _unhandled(token)
    except RuntimeError:
        structlog.get_logger("hanoinet.test").exception("round failed", peer="FRA")
    out = capsys.readouterr()
    assert out.out == "" and marker not in out.err  # neither in a message nor in a value
    first, *rest = out.err.splitlines()
    assert "round failed" in first and "peer=FRA" in first and "error_type=RuntimeError" in first
    assert "error_cause=ValueError" in first and f"error_at=tests/test_logs.py:{_line_of('raise RuntimeError')}" \
        in first
    assert " error_id=" in first
    if debug:
        text = "\n".join(rest)
        assert "_fail_holding" in text and "_unhandled" in text and "which led to:" in text
        assert "builtins" not in text and "RuntimeError (its message is not logged)" in text
    else:
        assert rest == []


def _line_of(code: str) -> int:
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.strip().startswith(code))


def test_standard_library_loggers_follow_the_same_rules(configured: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    token = officers.issue_token(officers.TOKEN_PREFIX)[0]
    logs.configure(debug=False)
    logging.config.dictConfig(LOGGING_CONFIG)  # as uvicorn.run does after `serve` configured the logs
    for logger, message in (("somelibrary", "callback failed for %s"), ("uvicorn.error", "ASGI app failed (%s)\n")):
        try:
            _fail_holding(token)
        except ValueError:
            logging.getLogger(logger).exception(message, f"Bearer {token}")
    err = capsys.readouterr().err
    assert token.removeprefix("hnt_") not in err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert "somelibrary: callback failed for Bearer [redacted] error_id=" in lines[0]
    # uvicorn's own handler and format, the record rewritten before it saw it
    assert lines[1].startswith("ERROR:    ASGI app failed (Bearer [redacted]) error_id=")
    assert all(f"error_type=ValueError error_at=tests/test_logs.py:{_line_of('raise ValueError')}" in line
               for line in lines)


class _Broken(logging.Handler):
    """A handler whose stream fails, reporting it as the standard handlers do."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raise OSError("the disk is full")
        except OSError:
            self.handleError(record)


def test_a_failing_handler_does_not_print_the_exception_being_handled(
        configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(debug=False)
    broken = _Broken()
    broken.setFormatter(logs.SafeFormatter(debug=False))
    library = logging.getLogger("somelibrary.broken")
    library.addHandler(broken)
    try:
        _fail_holding("hnt_" + "q" * 43)
    except ValueError:
        library.exception("failed")
    finally:
        library.removeHandler(broken)
    err = capsys.readouterr().err
    assert "q" * 43 not in err and "Logging error" not in err and len(err.splitlines()) == 1


def test_an_exception_already_logged_with_an_id_is_not_logged_again_by_the_server(
        configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(debug=False)
    try:
        _fail_holding("x")
    except ValueError as exc:
        structlog.get_logger("hanoinet.api").error("unhandled error", exc_info=exc)
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_configuring_again_replaces_the_handler_and_filter(configured: None) -> None:
    logs.configure(debug=False)
    logs.configure(debug=True)
    assert [type(h) for h in logging.getLogger().handlers].count(logs._StderrHandler) == 1
    scrubs = [f for f in logging.getLogger("uvicorn.error").filters if isinstance(f, logs.ScrubRecords)]
    assert len(scrubs) == 1 and scrubs[0].debug


def test_a_failing_background_loop_logs_one_line_per_round(
        configured: None, tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The custody log's sequencer on a database it cannot write: each round fails in SQLAlchemy, whose message
    # quotes the statement, and whose frames hold the sequencer (its holder name stands for a secret here).
    make_node(tmp_path, "VNM", authority).close()
    monkeypatch.setenv("HANOINET_DATABASE_URL", f"sqlite:///file:{tmp_path / 'VNM' / 'node.db'}?mode=ro&uri=true")
    node = Node.open(tmp_path / "VNM", migrate=False)
    holder = f"holder-{os.urandom(8).hex()}"
    logs.configure(debug=False)

    async def rounds() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Sequencer(node, holder=holder).run(stop, interval=0.01))
        await asyncio.sleep(0.3)
        stop.set()
        await task

    try:
        asyncio.run(rounds())
    finally:
        node.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and holder not in "\n".join(lines)
    assert all("ledger sequencing failed; retrying" in line and "error_type=sqlalchemy.exc.OperationalError" in line
               and "error_via=hanoinet/ledger/log.py:" in line for line in lines)
