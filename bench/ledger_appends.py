"""Custody log appends per second: several writers queue events in their transactions, one sequencer runs.

Each writer thread commits transactions of ``--per-transaction`` custody events (as an evidence ingest or a
batch of messages would) until ``--events`` are queued in all; meanwhile one sequencer (the node's own
``Sequencer``, batches of up to 10,000) assigns indices, writes tiles and signs a checkpoint per batch.
Reported: queue rate, sequencing rate (entries per second from the first to the last checkpoint), and the end
to end rate (all events queued and sequenced, divided by the wall time), on SQLite (WAL, synchronous=FULL)
and, with ``--database postgres``, on a fresh database of the local server.

Baseline for comparison: Tessera's published figure of about 2,900 appends/s on 12 cores with POSIX storage.
Target (issue): at least 20,000 appends/s.

Usage: .venv/bin/python bench/ledger_appends.py [--events 200000] [--writers 4] [--per-transaction 100]
                                                  [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
import structlog

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.ledger import log
from hanoinet.ledger.events import CustodyEvent
from hanoinet.network.directory import Desk
from hanoinet.node.node import Node
from hanoinet.node.setup import init_node

ADMIN_URL = "postgresql://127.0.0.1:5432/test"


def _node(folder: Path, database_url: str) -> Node:
    return init_node(folder / "FRA", state="FRA", name="bench", endpoint="http://127.0.0.1:9",
                     desks=[Desk(id="247", name="24/7", languages=["en"])], passphrase=None,
                     authority=KeyPair.generate("sig").public, database_url=database_url)


def _writer(node: Node, count: int, per_transaction: int, first: int) -> None:
    at = format_instant(now())
    for start in range(first, first + count, per_transaction):
        with node.db.transaction() as uow:
            for i in range(start, min(start + per_transaction, first + count)):
                log.record(uow.session, CustodyEvent(action="sealed", at=at, node="FRA", actor="system",
                                                     object_sha256=f"{i:064x}", case="BENCH"))


def run(node: Node, events: int, writers: int, per_transaction: int) -> dict[str, float]:
    """Queue ``events`` with ``writers`` threads while one sequencer runs; rates in events per second."""
    share = events // writers
    threads = [threading.Thread(target=_writer, args=(node, share, per_transaction, w * share))
               for w in range(writers)]
    sequencer = log.Sequencer(node, holder="bench")
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    first_checkpoint = last_checkpoint = None
    sequenced = 0
    while sequenced < share * writers:
        done = sequencer.step()
        if done is not None and done.count:
            last_checkpoint = time.perf_counter()
            first_checkpoint = first_checkpoint or last_checkpoint
            sequenced = done.size
        elif not any(t.is_alive() for t in threads) and done is not None and done.count == 0:
            break
        else:
            time.sleep(0.01)
    queued_at = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"events": sequenced, "end_to_end_per_s": round(sequenced / wall, 1), "wall_s": round(wall, 2),
            "sequencing_window_s": round((last_checkpoint or queued_at) - (first_checkpoint or start), 2)}


def main() -> None:
    """Measure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--per-transaction", type=int, default=100)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    # Progress and logs to stderr: stdout carries the JSON document only.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    with tempfile.TemporaryDirectory() as folder:
        database_url, name = "", f"bench_{uuid.uuid4().hex[:8]}"
        if args.database == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            database_url = f"postgresql+psycopg://127.0.0.1:5432/{name}"
        try:
            node = _node(Path(folder), database_url)
            figures = run(node, args.events, args.writers, args.per_transaction)
            node.close()
        finally:
            if args.database == "postgres":
                with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    print(json.dumps({
        "database": args.database, "writers": args.writers, "events_per_transaction": args.per_transaction,
        **figures, "target_per_s": 20_000, "baseline_tessera_posix_12_cores_per_s": 2_900,
        "cores": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
