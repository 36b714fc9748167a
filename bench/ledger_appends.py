"""Custody log appends per second: several writers queue events in their transactions, one sequencer runs.

Each writer builds ``--per-transaction`` custody events and queues them in one transaction (as an evidence
ingest or a batch of messages would), with ``ledger.log.record_many`` (one insert), or with ``--record`` one
``ledger.log.record`` call per event, until ``--events`` are queued in all. Writers are separate processes
by default, as a node's API server and background workers are; ``--threads`` makes them threads of the
sequencer's process, sharing its interpreter lock. Meanwhile the node's sequencer loop (``Sequencer.run``:
batches of up to 10,000, a wait of ``--interval`` after a batch that was not full) assigns indices, writes
tiles and signs a checkpoint per batch.

The clock starts when the writers, started and with the node open, are released, and stops when the log
holds every event (polled every 20 ms): durable commits as the node configures them (SQLite WAL with
``synchronous=FULL``; ``--database postgres``: a fresh database on the local server). Reported: the end to
end rate, when the writers were done, the sequencing window (first to last checkpoint), the CPU seconds of
the sequencer's process, of the writers while writing and of the rest of the machine (the database server,
the kernel's I/O work and any other load: a large figure on SQLite means a disturbed run), all busy CPU per
event, and the median time of one durable 32 KiB append in the temporary folder before the run.

Baseline for comparison: Tessera's published figure of about 2,900 appends/s on 12 cores with POSIX storage.
Target (issue): at least 20,000 appends/s.

Usage: .venv/bin/python bench/ledger_appends.py [--events 200000] [--writers 2] [--per-transaction 100]
           [--threads] [--record] [--interval 0.5] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

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


def _write(node: Node, count: int, per_transaction: int, first: int, one_by_one: bool) -> None:
    at = format_instant(now())
    for start in range(first, first + count, per_transaction):
        events = [CustodyEvent(action="sealed", at=at, node="FRA", actor="system", object_sha256=f"{i:064x}",
                               case="BENCH") for i in range(start, min(start + per_transaction, first + count))]
        with node.db.transaction() as uow:
            if one_by_one:
                for event in events:
                    log.record(uow.session, event)
            else:
                log.record_many(uow.session, events)


def _writer_process(data_dir: Path, count: int, per_transaction: int, first: int, one_by_one: bool,
                    ready: Event, go: Event, cpu: Any) -> None:
    """One writer process: opens the node as a worker would, waits for the start, queues its share."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    node = Node.open(data_dir, migrate=False)
    ready.set()
    go.wait()
    began = _cpu_seconds(resource.RUSAGE_SELF)
    _write(node, count, per_transaction, first, one_by_one)
    cpu.put(_cpu_seconds(resource.RUSAGE_SELF) - began)
    node.close()


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy so far (Linux ``/proc/stat``): the database server's work too."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _sequence(node: Node, events: int, workers: list[Any], interval: float) -> tuple[float, float, float]:
    """Run the node's sequencer loop until the log holds ``events``; when it first and last grew, writers ended."""
    stop = asyncio.Event()
    sequencing = asyncio.create_task(log.Sequencer(node, holder="bench").run(stop, interval=interval))
    first = writers_done = None
    size = 0
    while size < events:
        await asyncio.sleep(0.02)
        if writers_done is None and not any(w.is_alive() for w in workers):
            writers_done = time.perf_counter()
        if writers_done is not None and time.perf_counter() - writers_done > 10 * interval + 10:
            break  # a writer failed: its events never come
        size = await asyncio.to_thread(_size, node)
        if size and first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    stop.set()
    await sequencing
    if size < events:
        raise SystemExit(f"only {size} of {events} events were sequenced; a writer failed (see above)")
    return first or end, end, writers_done or end


def _fsync_ms(folder: Path, samples: int = 50) -> float:
    """Median time of one durable 32 KiB append here, the floor of one commit's wall time."""
    times = []
    with (folder / "fsync-probe").open("ab") as file:
        for _ in range(samples):
            file.write(b"\0" * 32768)
            file.flush()
            began = time.perf_counter()
            os.fdatasync(file.fileno())
            times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 2)


def _size(node: Node) -> int:
    with node.db.transaction(readonly=True) as uow:
        return log.size(uow.session)


def run(node: Node, events: int, writers: int, per_transaction: int, *, processes: bool, one_by_one: bool,
        interval: float) -> dict[str, Any]:
    """Queue ``events`` with ``writers`` while the sequencer runs here; rates in events per second."""
    share = events // writers
    events = share * writers
    args = [(share, per_transaction, w * share, one_by_one) for w in range(writers)]
    workers: list[Any]
    if processes:
        # spawn: a forked child would inherit the parent's pooled database connections.
        context = multiprocessing.get_context("spawn")
        go = context.Event()
        cpu = context.SimpleQueue()
        readies = [context.Event() for _ in range(writers)]
        workers = [context.Process(target=_writer_process, args=(node.settings.data_dir, *a, r, go, cpu))
                   for a, r in zip(args, readies, strict=True)]
        for worker in workers:
            worker.start()
        for ready, worker in zip(readies, workers, strict=True):  # imports and opening the node are not measured
            while not ready.wait(1):
                if not worker.is_alive():
                    raise SystemExit(f"a writer process failed before starting: exit code {worker.exitcode}")
    else:
        workers = [threading.Thread(target=_write, args=(node, *a)) for a in args]
    cpu_before, machine_before = _cpu_seconds(resource.RUSAGE_SELF), _machine_busy()
    start = time.perf_counter()
    if processes:
        go.set()
    else:
        for worker in workers:
            worker.start()
    first_checkpoint, end, writers_done = asyncio.run(_sequence(node, share * writers, workers, interval))
    machine_after = _machine_busy()
    for worker in workers:
        worker.join()
    if processes and any(w.exitcode for w in workers):
        raise SystemExit(f"a writer process failed: exit codes {[w.exitcode for w in workers]}")
    wall = end - start
    figures: dict[str, Any] = {
        "events": events, "end_to_end_per_s": round(events / wall, 1), "wall_s": round(wall, 2),
        "writers_done_s": round(writers_done - start, 2), "sequencing_window_s": round(end - first_checkpoint, 2),
    }
    own_cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu_before
    if processes:
        figures["cpu_s"] = {"sequencer_process": round(own_cpu, 2),
                            "writer_processes": round(sum(cpu.get() for _ in workers), 2)}
    else:
        figures["cpu_s"] = {"one_process": round(own_cpu, 2)}
    # Everything else busy on the machine meanwhile: the database server, and any other load (check: idle?).
    figures["cpu_s"]["rest_of_machine"] = round(machine_after - machine_before - sum(figures["cpu_s"].values()), 2)
    figures["cpu_us_per_event"] = round((machine_after - machine_before) / events * 1e6, 1)
    return figures


def main() -> None:
    """Measure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--per-transaction", type=int, default=100)
    parser.add_argument("--threads", action="store_true", help="writers as threads of the sequencer's process")
    parser.add_argument("--record", action="store_true", help="one ledger.log.record call per event")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="the sequencer's wait after a batch that was not full (the node's default: 0.5 s)")
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
            fsync_ms = _fsync_ms(Path(folder))
            node = _node(Path(folder), database_url)
            figures = run(node, args.events, args.writers, args.per_transaction, processes=not args.threads,
                          one_by_one=args.record, interval=args.interval)
            node.close()
        finally:
            if args.database == "postgres":
                with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps({
        "database": args.database, "writers": args.writers, "writer_processes": not args.threads,
        "queued_with": "record" if args.record else "record_many", "events_per_transaction": args.per_transaction,
        **figures, "fsync_ms_median": fsync_ms, "target_per_s": 20_000, "baseline_tessera_posix_12_cores_per_s": 2_900,
        "cores": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
