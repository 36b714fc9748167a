"""The node's custody log in its database: queueing events, sequencing them, tiles, checkpoints, proofs.

- :func:`record` queues a custody event inside the caller's transaction: the event exists if and only if the
  change it records was committed. :func:`record_many` queues several with one insert.
- :class:`Sequencer` gives queued events their indices in batches. One runs at a time across processes: it
  must hold the lease on the ``ledger_state`` row, which it updates (and so locks) in the same transaction
  that writes the entries, the tiles it completes or extends, the new compact range and a signed checkpoint.
  A sequencer killed mid-batch leaves nothing half-written; the next one continues at the same index.
- :func:`node_source` answers the proof core's ``get_node`` from the stored tiles, so proofs for any past
  tree size need no recomputation beyond one tile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.db.models import LedgerCheckpoint, LedgerEntry, LedgerQueued, LedgerState, LedgerTile, UTCDateTime
from hanoinet.errors import NotFound
from hanoinet.ledger import merkle
from hanoinet.ledger.checkpoint import Checkpoint, sign_checkpoint
from hanoinet.ledger.events import CustodyEvent, leaf_data
from hanoinet.ledger.names import origin_of
from hanoinet.ledger.note import Signer, Verifier
from hanoinet.ledger.tiles import TILE_HEIGHT, TILE_WIDTH, Tile, decode_tile, tile_node_source
from hanoinet.node.node import Node

log = structlog.get_logger("hanoinet.ledger")

#: How long a sequencer's claim on the log lasts without renewal: longer than any batch, short enough that a
#: restarted node (a new holder) resumes sequencing soon.
LEASE = timedelta(seconds=10)
BATCH = 10_000

_QUEUE = cast(Table, LedgerQueued.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
#: RETURNING makes SQLAlchemy send a batch as multi-row INSERTs ("insertmanyvalues"); without it, psycopg sends
#: one statement per row, which costs the PostgreSQL server about twice the CPU.
_QUEUE_INSERT = insert(_QUEUE).returning(_QUEUE.c.id)
_ENTRY_COLUMNS = ["idx", "entry", "record", "sequenced_at"]


def record(session: Session, event: CustodyEvent) -> bytes:
    """Queue ``event`` in the caller's transaction; the sequencer gives it an index within about a second.

    Returns its ledger entry (the SHA-256 of its record). The row is inserted at once (one statement, on
    PostgreSQL one round trip): a transaction that queues several events should pass them all to
    :func:`record_many`.
    """
    return record_many(session, (event,))[0]


def record_many(session: Session, events: Iterable[CustodyEvent]) -> list[bytes]:
    """Queue ``events``, in this order, in the caller's transaction: one insert for all of them.

    Same effect as :func:`record` for each: the rows exist if and only if the caller's transaction commits.
    Returns their ledger entries, in order.
    """
    at = now()
    rows, entries = [], []
    for event in events:
        data = event.record()
        entries.append(leaf_data(data))
        rows.append({"record": data.decode("utf-8"), "entry": entries[-1], "queued_at": at})
    if rows:
        # A Core insert of the table, not ORM objects: their unit of work cost more than the records and hashes.
        session.execute(_QUEUE_INSERT, rows)
    return entries


def origin(node: Node) -> str:
    """Our log's origin."""
    return origin_of(node.state)


def signing_private_key(node: Node) -> Ed25519PrivateKey:
    """The node's current Ed25519 signing key, as checkpoints and cosignatures are signed with it."""
    private = node.signing_key().key.private_key
    if not isinstance(private, Ed25519PrivateKey):
        raise TypeError("the node's signing key is not an Ed25519 private key")
    return private


def signer(node: Node) -> Signer:
    """The note signer of the log: the node's current signing key under the log's name."""
    return Signer(name=origin(node), private_key=signing_private_key(node))


def verifier(node: Node) -> Verifier:
    """The verifier key peers and courts use for this log's checkpoints."""
    return signer(node).verifier


@dataclass(frozen=True, slots=True)
class Sequenced:
    """What one sequencing step did."""

    count: int
    size: int
    root: bytes


class Sequencer:
    """Assigns indices to queued events and signs checkpoints; run one per process, one active per log."""

    def __init__(self, node: Node, *, holder: str, batch: int = BATCH) -> None:
        self.node = node
        self.holder = holder
        self.batch = batch

    def step(self, at: datetime | None = None) -> Sequenced | None:
        """Sequence one batch; ``None`` when another sequencer holds the lease, count 0 when nothing waits."""
        t = at or now()
        sqlite = self.node.db.engine.dialect.name == "sqlite"
        ahead = None
        if sqlite:
            # SQLite has one writer at a time: read and hash the batch before taking the write lock, so that
            # the transactions queueing events wait only for the database work.
            with self.node.db.transaction(readonly=True) as uow:
                current = uow.session.get(LedgerState, 1)
                if current is not None and not self._may_hold(current, t):
                    return None
                ahead = _plan(uow.session, self.batch)
        with self.node.db.transaction() as uow:
            session = uow.session
            claimed = session.execute(
                update(LedgerState)
                .where(LedgerState.id == 1)
                .where((LedgerState.holder.is_(None)) | (LedgerState.lease_until < t)
                       | (LedgerState.holder == self.holder))
                .values(holder=self.holder, lease_until=t + LEASE)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 0:  # type: ignore[attr-defined]
                return None
            state = session.get(LedgerState, 1, populate_existing=True)
            assert state is not None  # created by the migration
            if sqlite:
                # The plan read before the lock holds unless another sequencer has moved the log since.
                plan = ahead if ahead is not None and ahead.size == state.size else _plan(session, self.batch)
                _move_sqlite(session, plan, t)
            else:
                plan = _extend(state, _take_postgresql(session, self.batch, state.size, t))
            tree = plan.tree
            if not plan.entries:
                return Sequenced(0, tree.size, tree.root())
            _write_tiles(session, plan.tiles)
            state.size = tree.size
            state.compact = b"".join(tree.hashes)
            root = tree.root()
            note = sign_checkpoint(Checkpoint(origin=origin(self.node), size=tree.size, root_hash=root),
                                   [signer(self.node)])
            session.add(LedgerCheckpoint(size=tree.size, root=root, note=note.decode("utf-8"), signed_at=t))
        log.info("ledger sequenced", count=len(plan.entries), size=tree.size)
        return Sequenced(len(plan.entries), tree.size, root)

    def _may_hold(self, state: LedgerState, t: datetime) -> bool:
        """Whether this sequencer may take the lease at ``t`` (the condition of the claiming update)."""
        return state.holder in (None, self.holder) or (state.lease_until is not None and state.lease_until < t)

    async def run(self, stop: asyncio.Event, *, interval: float = 0.5) -> None:
        """Sequence until ``stop``; a checkpoint follows new entries within ``interval`` seconds."""
        while not stop.is_set():
            try:
                done = await asyncio.to_thread(self.step)
            except Exception:  # the loop must survive; the batch rolled back and is taken again
                log.exception("ledger sequencing failed; retrying")
                done = None
            if done is not None and done.count == self.batch:
                continue  # more are waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


@dataclass(slots=True)
class _Batch:
    """The events one step takes and what they make of the tree."""

    #: The tree size before them: the index of the first.
    size: int
    entries: list[bytes]
    #: The queue id of the newest event taken.
    last: int
    #: The tree with them appended, and the tile hashes they complete or add.
    tree: merkle.CompactRange
    tiles: dict[tuple[int, int], dict[int, bytes]]


def _extend(state: LedgerState, entries: list[bytes], last: int = 0) -> _Batch:
    hashes = [state.compact[i : i + merkle.HASH_SIZE] for i in range(0, len(state.compact), merkle.HASH_SIZE)]
    tree = merkle.CompactRange(size=state.size, hashes=hashes)
    tiles: dict[tuple[int, int], dict[int, bytes]] = defaultdict(dict)

    def keep(level: int, index: int, digest: bytes) -> None:
        # Tiles store the hashes of every eighth level; the levels between are recomputed from them.
        if level % TILE_HEIGHT == 0:
            tiles[(level // TILE_HEIGHT, index // TILE_WIDTH)][index % TILE_WIDTH] = digest

    for entry in entries:
        tree.append(merkle.leaf_hash(entry), keep)
    return _Batch(size=state.size, entries=entries, last=last, tree=tree, tiles=tiles)


def _plan(session: Session, batch: int) -> _Batch:
    """The oldest ``batch`` queued events and the tree with them, as this transaction sees the log."""
    state = session.get(LedgerState, 1)
    assert state is not None  # created by the migration
    rows = session.execute(select(_QUEUE.c.id, _QUEUE.c.entry).order_by(_QUEUE.c.id).limit(batch)).all()
    return _extend(state, [row.entry for row in rows], rows[-1].id if rows else 0)


def _move_sqlite(session: Session, batch: _Batch, at: datetime) -> None:
    """Move the planned events from the queue into the log, numbered in queue order from ``batch.size``.

    The records are copied inside the database (``INSERT ... SELECT``), never through Python. Exactly the
    planned rows are the queue's rows up to ``batch.last``: a new row's id is above every id in the queue,
    and only the lease holder removes rows.
    """
    if not batch.entries:
        return
    taken = _QUEUE.c.id <= batch.last
    session.execute(insert(_ENTRIES).from_select(_ENTRY_COLUMNS, select(
        batch.size - 1 + func.row_number().over(order_by=_QUEUE.c.id), _QUEUE.c.entry, _QUEUE.c.record,
        literal(at, UTCDateTime)).where(taken)))
    removed = session.execute(delete(_QUEUE).where(taken)).rowcount  # type: ignore[attr-defined]
    if removed != len(batch.entries):  # the transaction rolls back; the next step plans again
        raise RuntimeError(f"ledger queue changed under the sequencer: {removed} rows up to id {batch.last}, "
                           f"{len(batch.entries)} planned")


def _take_postgresql(session: Session, batch: int, first: int, at: datetime) -> list[bytes]:
    """Move the oldest ``batch`` queued events into the log at ``first``, ``first + 1``, ...; their entries.

    A writer that drew a lower id may commit after a read of the oldest rows, so one statement (one snapshot)
    takes the rows, copies them into the log inside the database, numbered in queue order, and returns only
    the 32-byte entries, for the tree.
    """
    oldest = select(_QUEUE.c.id).order_by(_QUEUE.c.id).limit(batch)
    taken = (delete(_QUEUE).where(_QUEUE.c.id.in_(oldest))
             .returning(_QUEUE.c.id, _QUEUE.c.entry, _QUEUE.c.record).cte("taken"))
    moved = insert(_ENTRIES).from_select(_ENTRY_COLUMNS, select(
        first - 1 + func.row_number().over(order_by=taken.c.id), taken.c.entry, taken.c.record,
        literal(at, UTCDateTime)))
    return list(session.scalars(select(taken.c.entry).order_by(taken.c.id).add_cte(moved.cte("moved"))))


def _write_tiles(session: Session, completed: dict[tuple[int, int], dict[int, bytes]]) -> None:
    for (level, index), hashes in completed.items():
        row = session.get(LedgerTile, (level, index))
        current = bytearray(row.data if row is not None else b"")
        for position in sorted(hashes):
            if position * merkle.HASH_SIZE != len(current):  # hashes arrive left to right, never with a gap
                raise RuntimeError(f"tile {level}/{index}: hash {position} after {len(current) // 32} stored")
            current += hashes[position]
        if row is None:
            session.add(LedgerTile(level=level, idx=index, data=bytes(current)))
        else:
            row.data = bytes(current)


def node_source(session: Session, size: int) -> Callable[[int, int], bytes]:
    """``get_node(level, index)`` for proofs within a tree of ``size`` leaves, read from the stored tiles."""
    return tile_node_source(size, lambda tile: decode_tile(tile_data(session, tile), tile))


def queued(session: Session) -> int:
    """How many events wait for the sequencer."""
    return int(session.scalar(select(func.count()).select_from(LedgerQueued)) or 0)


def size(session: Session) -> int:
    """How many entries the log holds."""
    state = session.get(LedgerState, 1)
    return state.size if state is not None else 0


def tile_data(session: Session, tile: Tile) -> bytes:
    """The bytes of ``tile`` as served (a partial tile is a prefix of the stored one)."""
    row = session.get(LedgerTile, (tile.level, tile.index))
    if row is None or len(row.data) < tile.width * merkle.HASH_SIZE:
        raise NotFound(f"tile {tile.path} does not exist (yet)", code="tile_missing")
    return row.data[: tile.width * merkle.HASH_SIZE]  # stored hashes never change: a prefix is that tile


def latest_checkpoint(session: Session) -> LedgerCheckpoint | None:
    """The newest signed checkpoint."""
    return session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1))


def inclusion(session: Session, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
    """The entry at ``index`` and its inclusion proof in the tree of ``tree_size`` entries."""
    row = session.get(LedgerEntry, index)
    if row is None or index >= tree_size or tree_size > size(session):
        raise NotFound(f"no entry {index} in a tree of {tree_size}", code="entry_missing")
    return row.entry, merkle.inclusion_proof(index, tree_size, node_source(session, tree_size))


def consistency(session: Session, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof between two sizes the log has had."""
    if new_size > size(session):
        raise NotFound(f"the log has not reached size {new_size}", code="size_missing")
    return merkle.consistency_proof(old_size, new_size, node_source(session, new_size))
