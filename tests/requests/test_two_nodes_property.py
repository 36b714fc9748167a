"""The request workflow between two in-process nodes, under random interleavings of acts and deliveries.

The pure property test (tests/requests/test_machine.py) checks that the state machine agrees with itself;
this one drives the real service on two SQLite nodes: both desks act on what they hold, and envelopes
travel one at a time, in any order the delivery worker could produce (out of order, resent after a lost
receipt, received again as duplicates, receipts settled late). Once everything is delivered both nodes must
tell the same story, every applied step must have been legal, and no correct node's envelope may have been
refused by its peer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from hanoinet.api.problems import STATUS_BY_CODE
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import OutboxMessage
from hanoinet.errors import HanoinetError, NotFound
from hanoinet.network import inbox
from hanoinet.network.delivery import RETRYABLE_CODES, Claim, DeliveryWorker
from hanoinet.network.transport import PeerAnswer
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, add_officer
from hanoinet.requests import commands, views
from hanoinet.requests.machine import RULES, TERMINAL, Action, Side, State
from hanoinet.states import split_address
from tests.requests.support import preservation_result
from tests.requests.test_service import CAMILLE, LAN, PRESERVATION, pump, retry_now, shared
from tests.support import make_node, publish

#: Each node's officer, and the side each node takes in every request of this file.
OFFICERS: dict[str, Principal] = {"VNM": LAN, "FRA": CAMILLE}
SIDES: dict[str, Side] = {"VNM": Side.REQUESTING, "FRA": Side.REQUESTED}
PEER: dict[str, str] = {"VNM": "FRA", "FRA": "VNM"}
#: Draws of ``choice`` at or above this also offer the ending acts (refuse, withdraw, release).
ENDING_FROM = 19
_worker_ids = itertools.count()


def data_for(action: Action) -> dict[str, Any]:
    """What an officer plausibly fills in for ``action`` (valid for a preservation request)."""
    filled: dict[Action, dict[str, Any]] = {
        Action.CLARIFY: {"question": "Which time zone are the log times in?"},
        Action.ANSWER: {"answer": "UTC"},
        Action.PARTIALLY_EXECUTE: {"result": preservation_result(format_instant(now()))},
        Action.EXECUTE: {"result": preservation_result(format_instant(now()))},
        Action.REFUSE: {"ground": "prejudice_sovereignty", "reasons": "The server belongs to a State body."},
        Action.WITHDRAW: {"reason": "The suspect was arrested."},
        Action.NOTICE: {"notice": "will_not_secure", "text": "The provider rotates its logs hourly."},
        Action.EXTEND: {"days": 30, "reason": "The MLA request is being drafted."},
        Action.FOLLOW_UP: {"mla_ref": "MLA-VNM-2026-12"},
        Action.RELEASE: {"reason": "The data are no longer needed."},
    }
    return filled.get(action, {})


@dataclass
class Held:
    """An envelope the peer accepted whose receipt has not reached the sender yet (its claim is kept)."""

    worker: DeliveryWorker
    claim: Claim
    answer: PeerAnswer


@dataclass
class Accepted:
    """An envelope the peer accepted, and the receipt it answered with."""

    recipient: str
    jwe: bytes
    receipt: str


@dataclass
class Exchange:
    """One request between the two nodes, driven step by step by one example."""

    nodes: dict[str, Node]
    ref: str
    #: Highest outbox row id of each node before the example: later rows are this example's.
    watermark: dict[str, int]
    held: list[Held] = field(default_factory=list)
    accepted: dict[str, Accepted] = field(default_factory=dict)
    #: Events each node authored (the send included).
    authored: dict[str, int] = field(default_factory=lambda: {"VNM": 1, "FRA": 0})
    #: Last version each node showed.
    versions: dict[str, int] = field(default_factory=dict)

    def show(self, name: str) -> dict[str, Any] | None:
        """The request as ``name``'s officer sees it, or None before it arrived there."""
        try:
            return views.show(self.nodes[name], OFFICERS[name], self.ref)
        except NotFound:
            return None

    def observe(self) -> None:
        """Check that neither node's version of the request went back."""
        for name in self.nodes:
            view = self.show(name)
            if view is None:
                assert name not in self.versions, f"{self.ref} disappeared from {name}"
                continue
            assert view["version"] >= self.versions.get(name, 0), f"{name}: version went back"
            self.versions[name] = view["version"]

    def act(self, name: str, choice: int) -> bool:
        """``name``'s officer takes one of the actions its node offers now (ending ones only now and then).

        Returns whether there was anything to do.
        """
        view = self.show(name)
        if view is None:
            return False
        options = [Action(a) for a in view["allowed"]]
        calm = [a for a in options if RULES[a].target not in TERMINAL]
        pool = options if choice >= ENDING_FROM else calm
        if not pool:
            return False
        action = pool[choice % len(pool)]
        after = commands.act(self.nodes[name], OFFICERS[name], self.ref, action, data_for(action))
        assert after["version"] > view["version"], f"{name}: {action.value} did not change the version"
        self.authored[name] += 1
        return True

    def deliver(self, sender: str, pick: int, mode: str) -> bool:
        """Deliver one of ``sender``'s due envelopes (picked among all of them: any order), then settle it.

        ``mode``: ``settle`` returns the receipt at once, ``hold`` keeps it in flight for a later step, ``lose``
        loses it (the sender will send the envelope again). The envelopes not picked fail as if the peer
        were busy and stay pending.
        """
        node = self.nodes[sender]
        retry_now(node)
        worker = DeliveryWorker(node, transport=None, worker_id=f"step-{next(_worker_ids)}")  # type: ignore[arg-type]
        claims = worker.claim(100)
        ours = [c for c in claims if c.id > self.watermark[sender]]  # not those of an interrupted example
        outcomes = [(c, PeerAnswer(status=503, code="busy", detail="not this one")) for c in claims if c not in ours]
        if not ours:
            worker.settle(outcomes)
            return False
        chosen = ours[pick % len(ours)]
        outcomes += [(c, PeerAnswer(status=503, code="busy", detail="not this one")) for c in ours if c is not chosen]
        answer = self.receive(chosen)
        if mode == "hold" and answer.status == 200:
            self.held.append(Held(worker, chosen, answer))
        elif mode == "lose" and answer.status == 200:
            outcomes.append((chosen, PeerAnswer(status=0, code="unreachable", detail="the receipt was lost")))
        else:
            outcomes.append((chosen, answer))
        worker.settle(outcomes)
        return True

    def receive(self, claim: Claim) -> PeerAnswer:
        """Hand ``claim``'s envelope to its recipient; what it answers, as the transport would report it."""
        recipient = split_address(claim.recipient)[0]
        before = self.versions.get(recipient)
        try:
            received = inbox.receive(self.nodes[recipient], claim.jwe)
        except HanoinetError as exc:
            # A correct node's envelope may arrive too early, never be wrong.
            assert exc.code == "out_of_order", f"{recipient} refused {claim.message_id}: {exc.code}: {exc.message}"
            assert exc.code in RETRYABLE_CODES, "the sender would give up on an early envelope"
            return PeerAnswer(status=STATUS_BY_CODE.get(exc.code, exc.http_status), code=exc.code,
                              detail=exc.message)
        earlier = self.accepted.get(claim.message_id)
        if earlier is None:
            assert not received.duplicate
            self.accepted[claim.message_id] = Accepted(recipient, claim.jwe, received.receipt)
            view = self.show(recipient)
            assert view is not None and view["version"] > (before or 0), f"{recipient}: an event changed nothing"
        else:  # sent again after its receipt was lost: the first receipt, nothing processed twice
            assert received.duplicate and received.receipt == earlier.receipt
        return PeerAnswer(status=200, receipt=received.receipt)

    def settle_held(self, pick: int) -> bool:
        """A receipt kept in flight finally reaches its sender (False: none was in flight)."""
        if not self.held:
            return False
        held = self.held.pop(pick % len(self.held))
        held.worker.settle([(held.claim, held.answer)])
        return True

    def duplicate(self, pick: int) -> bool:
        """An envelope already accepted arrives again: the same receipt, and the request does not change."""
        if not self.accepted:
            return False
        earlier = self.accepted[sorted(self.accepted)[pick % len(self.accepted)]]
        version = self.versions[earlier.recipient]
        again = inbox.receive(self.nodes[earlier.recipient], earlier.jwe)
        assert again.duplicate and again.receipt == earlier.receipt
        view = self.show(earlier.recipient)
        assert view is not None and view["version"] == version, f"{earlier.recipient}: a duplicate changed it"
        return True

    def step(self, op: str, name: str, choice: int) -> None:
        """Take one drawn step; when it has nothing to work on, try the other ones, so that no step is lost."""
        moves = {
            "act": lambda: self.act(name, choice) or self.act(PEER[name], choice),
            "deliver": lambda: self.deliver(name, choice, "settle") or self.deliver(PEER[name], choice, "settle"),
            "hold": lambda: self.deliver(name, choice, "hold") or self.deliver(PEER[name], choice, "hold"),
            "lose": lambda: self.deliver(name, choice, "lose") or self.deliver(PEER[name], choice, "lose"),
            "receipt": lambda: self.settle_held(choice),
            "duplicate": lambda: self.duplicate(choice),
        }
        for move in [op, *(m for m in moves if m != op)]:
            if moves[move]():
                return

    def finish(self) -> None:
        """Let the held receipts arrive, then deliver everything still pending."""
        for held in self.held:
            held.worker.settle([(held.claim, held.answer)])
        self.held.clear()
        drain(self.nodes)
        assert not self.rows(status="pending"), "envelopes still pending after delivering everything"

    def rows(self, *, status: str) -> list[tuple[str, str, str | None]]:
        """This example's outbox rows with ``status``, as (node, message id, last error)."""
        found = []
        for name, node in self.nodes.items():
            with node.db.transaction(readonly=True) as uow:
                found += [(name, r.message_id, r.last_error) for r in uow.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.id > self.watermark[name],
                                                OutboxMessage.status == status))]
        return found


def drain(nodes: dict[str, Node]) -> None:
    """Deliver every pending envelope (claims left by an interrupted example are released first)."""
    for node in nodes.values():
        with node.db.transaction() as uow:
            uow.session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending")
                                .values(claimed_by=None, claimed_until=None))
    for _ in range(20):
        for node in nodes.values():
            retry_now(node)
        if not pump(nodes):
            break


def watermark(node: Node) -> int:
    """The highest outbox row id of ``node`` so far."""
    with node.db.transaction(readonly=True) as uow:
        return uow.session.scalar(select(func.max(OutboxMessage.id))) or 0


def check_legal(view: dict[str, Any]) -> None:
    """Every applied step follows RULES from the state before it; every superseded one changed nothing.

    The request row's state (what lists and filters use) must be where the timeline ends.
    """
    state = State.DRAFT
    previous = ""
    for entry in (e for e in view["timeline"] if "seq" in e or e["what"] == "received"):
        if entry["what"] == "received":  # the receipt, right after the send
            assert previous == Action.SEND.value and state is State.SENT
            state, previous = State.RECEIVED, entry["what"]
            continue
        previous = entry["what"]
        action, side = Action(entry["what"]), Side(entry["side"])
        rule = RULES[action]
        if entry["applied"]:
            assert side is rule.owner and state in rule.sources, f"{action.value} by {side.value} from {state.value}"
            assert entry["state"] == (rule.target or state).value
            state = State(entry["state"])
        else:
            assert entry["reason"] and entry["state"] == state.value
    assert view["state"] == state.value


@pytest.fixture
def nodes(tmp_path: Path, authority: KeyPair) -> dict[str, Node]:
    """Viet Nam's and France's nodes on SQLite, with a duty officer each; built once for all examples."""
    vnm = make_node(tmp_path, "VNM", authority)
    fra = make_node(tmp_path, "FRA", authority)
    publish([vnm, fra], authority)
    for node, officer in ((vnm, LAN), (fra, CAMILLE)):
        with node.db.transaction() as uow:
            add_officer(uow.session, name=officer.name, role=officer.role.value, desk=officer.desk,
                        desks={"247", "CA"})
    return {"VNM": vnm, "FRA": fra}


NODE = st.sampled_from(["VNM", "FRA"])
CHOICE = st.integers(min_value=0, max_value=20)
#: Acts and plain deliveries most of the time; receipts held or lost, and duplicates, now and then.
OPS = st.sampled_from(["act", "deliver", "act", "deliver", "act", "deliver", "hold", "lose", "receipt", "duplicate"])
STEP = st.tuples(OPS, NODE, CHOICE)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=8, max_size=15))
def test_two_nodes_agree_under_any_interleaving(nodes: dict[str, Node], steps: list[tuple[str, str, int]]) -> None:
    drain(nodes)  # an earlier example that failed may have left envelopes in flight
    marks = {name: watermark(node) for name, node in nodes.items()}
    draft = commands.Draft(kind="preservation", to="FRA/247", fields=PRESERVATION, priority="urgent",
                           case="VNM-2026-0117")
    created = commands.create(nodes["VNM"], LAN, draft)
    assert created["state"] == State.SENT.value
    exchange = Exchange(nodes, created["ref"], marks, versions={"VNM": created["version"]})
    for op, name, choice in steps:
        exchange.step(op, name, choice)
        exchange.observe()
    exchange.finish()
    exchange.observe()

    assert exchange.rows(status="refused") == [] and exchange.rows(status="undeliverable") == []
    ours, theirs = exchange.show("VNM"), exchange.show("FRA")
    assert ours is not None and theirs is not None
    assert ours["state"] == theirs["state"]
    assert shared(ours) == shared(theirs)
    for name, view in (("VNM", ours), ("FRA", theirs)):
        check_legal(view)
        listed = views.list_requests(nodes[name], OFFICERS[name], state=view["state"])
        assert exchange.ref in [r["ref"] for r in listed]
        events = [e for e in view["timeline"] if "seq" in e]
        for author, side in SIDES.items():
            assert sum(1 for e in events if e["side"] == side.value) == exchange.authored[author], \
                f"{name} does not hold every event of {author}"
