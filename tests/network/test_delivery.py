"""Delivery policy: same bytes on every retry, permanent refusals and overdue messages surfaced, never dropped."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from hanoinet.clock import now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, OutboxMessage
from hanoinet.network.delivery import DeliveryWorker, backoff
from hanoinet.network.transport import PeerAnswer
from hanoinet.node.node import Node
from tests.network.test_exchange import AsgiTransport, _send
from tests.support import envelope, make_node, publish


class ScriptedTransport:
    """Answers from a script, then forwards to the real peer app; records every body sent."""

    def __init__(self, script: list[PeerAnswer | Exception], then: AsgiTransport | None = None) -> None:
        self.script = script
        self.then = then
        self.sent: list[bytes] = []

    async def post_envelope(self, endpoint: str, jwe: bytes) -> PeerAnswer:
        self.sent.append(jwe)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        assert self.then is not None
        return await self.then.post_envelope(endpoint, jwe)


@pytest.fixture
def nodes(tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch) -> tuple[Node, Node]:
    monkeypatch.setattr("hanoinet.network.delivery.BACKOFF_BASE_SECONDS", 0.01)
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    return vnm, fra


def _run(worker: DeliveryWorker, node: Node, until: str, timeout: float = 10.0) -> OutboxMessage:
    async def go() -> OutboxMessage:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        row = None
        while asyncio.get_running_loop().time() < deadline:
            with node.db.transaction() as uow:
                row = uow.session.scalars(select(OutboxMessage)).one()
            if row.status == until:
                break
            worker.wake()
            await asyncio.sleep(0.02)
        stop.set()
        await task
        assert row is not None
        return row

    return asyncio.run(go())


def test_retries_send_the_same_bytes_until_a_receipt_comes(nodes: tuple[Node, Node]) -> None:
    vnm, fra = nodes
    _send(vnm, "FRA/247", "hello")
    transport = ScriptedTransport(
        [httpx.ConnectError("refused"), PeerAnswer(status=503, code="no_directory"),
         PeerAnswer(status=429, code="rate_limited")],
        then=AsgiTransport({"FRA": fra}),
    )
    row = _run(DeliveryWorker(vnm, transport, worker_id="w"), vnm, until="delivered")
    assert row.status == "delivered" and row.attempts == 4
    assert len(transport.sent) == 4 and len(set(transport.sent)) == 1
    assert transport.sent[0] == row.jwe


def test_a_receipt_that_does_not_match_is_not_accepted(nodes: tuple[Node, Node]) -> None:
    vnm, fra = nodes
    _send(vnm, "FRA/247", "first")
    # A genuine receipt signed by FRA, but for another envelope: it must not count as delivery.
    other = envelope(vnm, fra)
    receipt = asyncio.run(AsgiTransport({"FRA": fra}).post_envelope(fra.settings.endpoint, other.jwe)).receipt
    worker = DeliveryWorker(vnm, ScriptedTransport([]), worker_id="w")
    [claim] = worker.claim(10)
    worker.settle([(claim, PeerAnswer(status=200, receipt=receipt))])
    with vnm.db.transaction() as uow:
        row = uow.session.scalars(select(OutboxMessage)).one()
    assert row.status == "pending" and row.receipt is None
    assert row.last_error_code == "bad_receipt" and "does not match" in (row.last_error or "")


def test_permanent_refusal_is_surfaced_as_an_alarm(nodes: tuple[Node, Node]) -> None:
    vnm, _ = nodes
    _send(vnm, "FRA/247", "hello")
    transport = ScriptedTransport([PeerAnswer(status=400, code="invalid_body", detail="text: missing")])
    row = _run(DeliveryWorker(vnm, transport, worker_id="w"), vnm, until="refused")
    assert row.status == "refused" and row.last_error_code == "invalid_body"
    with vnm.db.transaction() as uow:
        alarms = uow.session.scalars(select(Alarm)).all()
    assert [a.code for a in alarms] == ["message_refused"]
    assert row.message_id in alarms[0].message
    assert alarms[0].desk == "247", "the sending desk's officers see it"


def test_overdue_message_becomes_undeliverable_and_is_kept(nodes: tuple[Node, Node]) -> None:
    vnm, _ = nodes
    _send(vnm, "FRA/247", "hello")
    with vnm.db.transaction() as uow:
        uow.session.execute(update(OutboxMessage).values(created_at=now() - timedelta(days=3)))
    transport = ScriptedTransport([httpx.ConnectError("down")] * 5)
    row = _run(DeliveryWorker(vnm, transport, worker_id="w"), vnm, until="undeliverable")
    assert row.status == "undeliverable" and row.jwe  # kept, with its bytes, for an operator to act on
    with vnm.db.transaction() as uow:
        assert [(a.code, a.desk) for a in uow.session.scalars(select(Alarm))] == [("message_undeliverable", "247")]


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempts in range(12):
        delay = backoff(attempts, cap_seconds=60).total_seconds()
        ceiling = min(60.0, 0.5 * 2**attempts)
        assert ceiling / 2 <= delay <= ceiling


def test_settling_survives_a_database_error_regression(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    vnm, fra = nodes
    _send(vnm, "FRA/247", "hello")
    worker = DeliveryWorker(vnm, AsgiTransport({"FRA": fra}), worker_id="w")
    real_settle = worker.settle
    calls = []

    def flaky(outcomes: list[tuple[object, PeerAnswer]]) -> None:
        calls.append(len(outcomes))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        real_settle(outcomes)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "settle", flaky)
    monkeypatch.setattr("hanoinet.network.delivery.LEASE", timedelta(milliseconds=200))
    row = _run(worker, vnm, until="delivered")
    assert row.status == "delivered" and len(calls) >= 2


def test_malformed_problem_answers_count_as_failed_attempts_regression(nodes: tuple[Node, Node]) -> None:
    import json as _json

    from hanoinet.network.transport import _problem_code

    def answer(body: object, media: str = "application/problem+json") -> httpx.Response:
        return httpx.Response(400, headers={"content-type": media}, content=_json.dumps(body).encode())

    assert _problem_code(answer([]), "[]") is None
    assert _problem_code(answer({"code": 5}), '{"code": 5}') is None
    assert _problem_code(answer({"code": "x" * 100}), _json.dumps({"code": "x" * 100})) is None
    assert _problem_code(answer({"code": "too_old"}), '{"code": "too_old"}') == "too_old"
    vnm, _ = nodes
    _send(vnm, "FRA/247", "hello")
    worker = DeliveryWorker(vnm, ScriptedTransport([ValueError("unreadable answer")]), worker_id="w")
    [claim] = worker.claim(1)
    asyncio.run(worker._deliver(claim))
    worker.settle([worker._outcomes.get_nowait()])
    with vnm.db.transaction() as uow:
        row = uow.session.scalars(select(OutboxMessage)).one()
    assert row.attempts == 1 and row.last_error_code == "internal"
