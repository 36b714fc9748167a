"""Exchange benchmark: two real node processes on loopback, a fixed offered load, latency to stored receipt.

What is measured
    For every message, the time from its outbox row on the sending node (``outbox.created_at``) to its stored,
    verified receipt (``outbox.delivered_at``), read from the sender's database after the run. Both instants
    come from the sender's clock in whole milliseconds (``hanoinet.clock.now``), so each figure is good to
    about +-1 ms. ``created_at`` is taken by ``outbox.enqueue`` before the envelope is sealed, so the interval
    includes sealing (sign + encrypt) and waiting for and committing the enqueue transaction; ``delivered_at``
    is taken once the receipt has been verified, just before the settle transaction that stores it. In
    between: waking the delivery worker, the claim transaction, the HTTP round trip to the receiving node
    (decrypt, verify, inbox insert, receipt signing, commit there) and receipt verification.

How
    1. A temporary directory gets a Secretariat workspace and two nodes (VNM sends, FRA receives), set up with
       the ``hanoinet`` command as an operator would: ``directory init``, ``node init``, ``node card``,
       ``directory add/publish/import`` and ``officer add`` (that officer's token drives the load).
    2. Both nodes run as separate ``hanoinet serve`` processes on free loopback ports with their default
       settings: SQLite (WAL, ``synchronous=FULL``), or with ``--database postgres`` a fresh database for each
       node on the local server, created for the run and dropped after it.
    3. A few warm-up messages are sent and delivered first; they are left out of every figure.
    4. The load generator (asyncio + httpx, in this process) offers ``--rate`` messages a second for
       ``--duration`` seconds to the sender's ``POST /api/v1/messages``, open loop: message *i* is due at
       ``start + i / rate`` whatever happened to the earlier ones, with at most ``--concurrency`` requests in
       flight. When all of them are waiting for the node, sending slips behind the schedule (the slip is
       reported), and whatever could not be sent by the end of the window is counted as not sent: the
       achieved offered rate says what the node actually took.
    5. When the window ends the benchmark waits up to ``--drain`` seconds for the sender's outbox to empty,
       then reads every outbox row. ``lost`` counts messages the API accepted (202) that have no stored
       receipt at the end of the drain period.

Output
    One JSON document on stdout (progress goes to stderr): latency percentiles in milliseconds (overall and
    per 10-second window of ``created_at``), planned/sent/accepted/failed requests and the achieved rate,
    delivered and lost counts, delivery attempts; for the offer and the drain phase, the receipts stored per
    second and the CPU used by each node and by the load generator (Linux); and the environment. ``--out``
    also writes it to a file. The design targets (p50 < 20 ms, p99 < 100 ms, 300 messages/s sustained, none
    lost) are reported beside the figures; this is a measurement, not a test, and it exits 0 whatever the
    figures are.

Usage
    .venv/bin/python bench/exchange.py [--rate 300] [--duration 60] [--drain 30] [--database sqlite|postgres]
                                       [--concurrency 64] [--warmup 20] [--out [FILE]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from hanoinet import __version__
from hanoinet.db.models import InboxMessage, OutboxMessage
from hanoinet.node.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HANOINET = Path(sys.executable).with_name("hanoinet")
DEFAULT_PG_ADMIN = os.environ.get("HANOINET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TARGETS = {"p50_ms": 20.0, "p99_ms": 100.0, "rate_per_s": 300.0, "lost": 0}
WINDOW_SECONDS = 10

try:
    import sniffio  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    # httpcore tries `import sniffio` on every request and Python does not remember a failed import, so each
    # request of the load generator would walk sys.path on disk. Recording the absence makes that import fail
    # at once (in this process only; the nodes run as they are installed).
    sys.modules["sniffio"] = None  # type: ignore[assignment]


def log(message: str) -> None:
    """Progress on stderr, so stdout stays pure JSON."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(values: Sequence[float]) -> dict[str, Any]:
    """Count, mean and percentiles of latencies in milliseconds, rounded to 0.1 ms."""
    ordered = sorted(values)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "count": len(ordered),
        "mean": r(sum(ordered) / len(ordered)) if ordered else None,
        "p50": r(percentile(ordered, 50)),
        "p90": r(percentile(ordered, 90)),
        "p99": r(percentile(ordered, 99)),
        "p999": r(percentile(ordered, 99.9)),
        "max": r(ordered[-1]) if ordered else None,
    }


# -- PostgreSQL databases ---------------------------------------------------------------------------------


@contextmanager
def postgres_database(admin_url: str, label: str) -> Iterator[str]:
    """A fresh, empty database on the server of ``admin_url``; yields its SQLAlchemy URL, drops it after."""
    name = f"hanoinet_bench_{label}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version(admin_url: str) -> str:
    """The server's version string."""
    with psycopg.connect(admin_url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


# -- the two nodes ----------------------------------------------------------------------------------------


@dataclass
class NodeSpec:
    """One node of the benchmark: its data directory, port and process environment."""

    state: str
    name: str
    data: Path
    port: int
    database_url: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL of the node's HTTP server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_url(self) -> str:
        """The URL of the node's database, as the node itself resolves it."""
        return self.database_url or load_settings(self.data).db_url


def clean_environment() -> dict[str, str]:
    """This process's environment without any HANOINET_* variable (they would configure the nodes)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HANOINET_")}


def hanoinet(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> str:
    """Run one ``hanoinet`` command; its stdout, or an error showing what it printed."""
    result = subprocess.run([str(HANOINET), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"`hanoinet {' '.join(args)}` failed ({result.returncode}):\n{result.stderr}"
                           f"{result.stdout}")
    return result.stdout


def provision(work: Path, sender: NodeSpec, receiver: NodeSpec) -> str:
    """Create the Secretariat and both nodes, publish and import the directory; the sender officer's token."""
    base_env = clean_environment()
    for node in (sender, receiver):
        node.env = dict(base_env)
        if node.database_url:
            node.env["HANOINET_DATABASE_URL"] = node.database_url
    hanoinet(["directory", "init", "--dir", "auth", "--insecure-plaintext-keys"], cwd=work, env=base_env)
    for node in (sender, receiver):
        hanoinet(["node", "init", "--data", str(node.data), "--state", node.state, "--name", node.name,
                  "--endpoint", node.url, "--authority-key", "auth/authority.jwk", "--yes",
                  "--insecure-plaintext-keys"], cwd=work, env=node.env)
        card = work / f"{node.state.lower()}.card"
        card.write_text(hanoinet(["node", "card", "--data", str(node.data)], cwd=work, env=node.env),
                        encoding="ascii")
        hanoinet(["directory", "add", str(card), "--dir", "auth"], cwd=work, env=base_env)
    hanoinet(["directory", "publish", "--dir", "auth"], cwd=work, env=base_env)
    for node in (sender, receiver):
        hanoinet(["directory", "import", "auth/directory.jws", "--data", str(node.data)], cwd=work, env=node.env)
    output = hanoinet(["officer", "add", "--data", str(sender.data), "--name", "Bench Officer",
                       "--role", "duty_officer", "--desk", "247"], cwd=work, env=sender.env)
    tokens = [line.strip() for line in output.splitlines() if line.strip().startswith("hnt_")]
    if len(tokens) != 1:
        raise RuntimeError(f"could not find the officer's token in the output of `officer add`:\n{output}")
    return tokens[0]


class NodeProcess:
    """A running ``hanoinet serve``; its output goes to a log file in the work directory."""

    def __init__(self, spec: NodeSpec, work: Path, log_level: str) -> None:
        self.spec = spec
        self.log_path = work / f"{spec.state.lower()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(HANOINET), "serve", "--data", str(spec.data), "--log-level", log_level],
            cwd=work, env=spec.env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until ``GET /healthz`` answers 200; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.state} node exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.spec.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.spec.state} node did not answer /healthz in {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The last lines of the node's log."""
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate (graceful shutdown), then kill if it does not exit within 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


# -- the load -----------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What the load generator did and what the sender's API answered."""

    planned: int = 0
    sent: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    accepted_ids: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    slip_ms: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        """Messages actually offered per second, from the first to the last send."""
        span = self.last_send - self.first_send
        return (self.sent - 1) / span if self.sent > 1 and span > 0 else 0.0


def message_body(i: int) -> dict[str, Any]:
    """The JSON of message ``i``: a short text note to FRA's 24/7 desk."""
    return {"to": "FRA/247", "kind": "note.text", "case": "BENCH-1",
            "body": {"subject": f"bench message {i}",
                     "text": f"Benchmark message number {i}; please disregard. " + "x" * 200}}


async def offer_load(url: str, token: str, *, rate: float, duration: float, concurrency: int,
                     first_index: int = 0) -> LoadResult:
    """Offer ``rate`` messages/s for ``duration`` s, open loop with at most ``concurrency`` in flight.

    Nothing is sent after the window: when the node answers too slowly for the schedule, the rest of the
    planned messages are counted as not sent, and the achieved rate shows it.

    Each request in flight has a client of its own with one keep-alive connection: one shared client with a
    large pool costs milliseconds of CPU per request in httpcore's pool bookkeeping, CPU the nodes under test
    would lose on a small machine.
    """
    result = LoadResult(planned=round(rate * duration))
    tls = ssl.create_default_context()  # unused on http://, but each client would otherwise load the CA store
    async with AsyncExitStack() as stack:
        idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for _ in range(concurrency):
            idle.put_nowait(await stack.enter_async_context(httpx.AsyncClient(
                base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=httpx.Timeout(30.0),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), verify=tls,
            )))
        loop = asyncio.get_running_loop()

        async def post(client: httpx.AsyncClient, i: int, sent_at: float) -> None:
            try:
                response = await client.post("/api/v1/messages", json=message_body(i))
                if response.status_code == 202:
                    result.accepted_ids.append(str(response.json()["message_id"]))
                else:
                    result.failures[f"http_{response.status_code}"] += 1
            except httpx.HTTPError as exc:
                result.failures[type(exc).__name__] += 1
            finally:
                result.api_ms.append((loop.time() - sent_at) * 1000)
                idle.put_nowait(client)

        tasks: list[asyncio.Task[None]] = []
        start = loop.time() + 0.05
        deadline = start + duration
        for i in range(result.planned):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            client = await idle.get()
            sent_at = loop.time()
            if sent_at > deadline:  # the offer window is over: what could not be sent in it is not offered
                break
            result.slip_ms.append(max(0.0, sent_at - due) * 1000)
            if i == 0:
                result.first_send = sent_at
            result.last_send = sent_at
            result.sent += 1
            tasks.append(asyncio.create_task(post(client, first_index + i, sent_at)))
        await asyncio.gather(*tasks)
    return result


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float] | None:
    """Busy and total CPU time of the whole machine so far, all cores, in clock ticks (Linux /proc/stat)."""
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return float(sum(ticks) - ticks[3] - ticks[4]), float(sum(ticks))


@dataclass(frozen=True, slots=True)
class Mark:
    """One reading: when, CPU used so far by each process, and by the whole machine."""

    monotonic: float
    wall: datetime
    cpu: dict[str, float | None]
    machine: tuple[float, float] | None


@dataclass
class PhaseMeter:
    """Readings at the start and end of each phase, for what the nodes did and the CPU they used in it."""

    pids: dict[str, int]
    marks: list[Mark] = field(default_factory=list)

    def mark(self) -> None:
        """Take a reading now."""
        usage = os.times()
        cpu: dict[str, float | None] = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["load_generator"] = usage.user + usage.system
        self.marks.append(Mark(time.monotonic(), datetime.now(UTC), cpu, machine_cpu()))

    def phase(self, first: int, second: int, *, accepted: int, delivered_at: Sequence[datetime]) -> dict[str, Any]:
        """Receipts stored and CPU used between marks ``first`` and ``second``."""
        a, b = self.marks[first], self.marks[second]
        wall = b.monotonic - a.monotonic
        stored = sum(1 for t in delivered_at if a.wall <= t < b.wall)
        used: dict[str, float | None] = {}
        for name, before in a.cpu.items():
            after = b.cpu.get(name)
            used[name] = None if before is None or after is None else round(after - before, 1)
        busy = None
        if a.machine is not None and b.machine is not None and b.machine[1] > a.machine[1]:
            busy = round((b.machine[0] - a.machine[0]) / (b.machine[1] - a.machine[1]), 2)
        return {
            "wall_s": round(wall, 1),
            "api_accepted": accepted,
            "receipts_stored": stored,
            "receipts_per_s": round(stored / wall, 1) if wall > 0 else None,
            "cpu_s": used,
            "machine_busy_fraction": busy,
        }


# -- reading the sender's database ----------------------------------------------------------------------------


def read_engine(db_url: str) -> Engine:
    """A plain engine for reading a node's database beside the running node (no write locks taken)."""
    if db_url.startswith("sqlite"):
        return create_engine(db_url, connect_args={"timeout": 30})
    return create_engine(db_url, pool_size=1, max_overflow=0)


def pending_count(engine: Engine) -> int:
    """Outbox rows still waiting for a receipt."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(OutboxMessage.status == "pending")) or 0)


def wait_for_drain(engine: Engine, timeout: float) -> float:
    """Wait until no outbox row is pending, at most ``timeout`` seconds; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if pending_count(engine) == 0:
            break
        time.sleep(0.25)
    return time.monotonic() - started


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """The columns of an outbox row the benchmark needs."""

    message_id: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_error_code: str | None


def outbox_rows(engine: Engine) -> dict[str, OutboxRow]:
    """Every outbox row, by message id."""
    query = select(OutboxMessage.message_id, OutboxMessage.status, OutboxMessage.attempts,
                   OutboxMessage.created_at, OutboxMessage.delivered_at, OutboxMessage.last_error_code)
    with engine.connect() as conn:
        return {r.message_id: OutboxRow(*r) for r in conn.execute(query)}


def inbox_count(engine: Engine) -> int:
    """Envelopes stored by the receiving node."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(InboxMessage)) or 0)


# -- the report ------------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, load: LoadResult, rows: dict[str, OutboxRow], received: int,
           drain_seconds: float, phases: PhaseMeter, environment: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, as one JSON-able document."""
    accepted = set(load.accepted_ids)
    measured = [rows[i] for i in accepted if i in rows]
    delivered = [r for r in measured if r.status == "delivered" and r.delivered_at is not None]
    undelivered = [r for r in measured if r.status != "delivered" or r.delivered_at is None]
    latencies = [(r.delivered_at - r.created_at).total_seconds() * 1000 for r in delivered
                 if r.delivered_at is not None]
    lost = len(accepted) - len(delivered)

    windows: list[dict[str, Any]] = []
    if delivered:
        origin = min(r.created_at for r in measured)
        buckets: dict[int, list[float]] = {}
        for r, ms in zip(delivered, latencies, strict=True):
            buckets.setdefault(int((r.created_at - origin).total_seconds() // WINDOW_SECONDS), []).append(ms)
        for index in sorted(buckets):
            summary = latency_summary(buckets[index])
            windows.append({"from_s": index * WINDOW_SECONDS, "count": summary["count"], "p50": summary["p50"],
                            "p99": summary["p99"], "max": summary["max"]})

    latency = latency_summary(latencies)
    stored_at = [r.delivered_at for r in delivered if r.delivered_at is not None]
    return {
        "benchmark": "exchange",
        "measured": "per message: outbox.created_at -> outbox.delivered_at on the sender, milliseconds",
        "started_at": environment.pop("started_at"),
        "parameters": {"rate": args.rate, "duration_s": args.duration, "drain_s": args.drain,
                       "concurrency": args.concurrency, "warmup_messages": args.warmup,
                       "database": args.database},
        "latency_ms": latency,
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "latency_ms_by_window": windows,
        "offered": {
            "planned": load.planned,
            "sent": load.sent,
            "not_sent_in_window": load.planned - load.sent,
            "achieved_rate_per_s": round(load.achieved_rate, 1),
            "schedule_slip_ms": latency_summary(load.slip_ms),
            "api_accepted": len(accepted),
            "api_failed": sum(load.failures.values()),
            "api_failures": dict(load.failures),
            "api_response_ms": latency_summary(load.api_ms),
        },
        "delivered": len(delivered),
        "lost": lost,
        "lost_by_status": dict(Counter(r.status for r in undelivered)
                               + Counter({"missing_from_outbox": len(accepted) - len(measured)})),
        "delivery_attempts": dict(sorted(Counter(r.attempts for r in measured).items())),
        "last_error_codes": dict(Counter(r.last_error_code for r in measured if r.last_error_code)),
        "receiver_inbox_rows": received,
        "drain_wait_s": round(drain_seconds, 1),
        "phases": {
            "offer": phases.phase(0, 1, accepted=len(accepted), delivered_at=stored_at),
            "drain": phases.phase(1, 2, accepted=0, delivered_at=stored_at),
            "note": "cpu_s: user + system seconds of each process; machine_busy_fraction: all cores, every process "
                    "(the database server too)",
        },
        "targets": TARGETS,
        "targets_met": {
            "p50": latency["p50"] is not None and latency["p50"] < TARGETS["p50_ms"],
            "p99": latency["p99"] is not None and latency["p99"] < TARGETS["p99_ms"],
            "rate": load.achieved_rate >= 0.99 * TARGETS["rate_per_s"] and load.sent == load.planned
            and not load.failures,
            "lost": lost == 0 and not load.failures,
        },
        "environment": environment | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    }


def git(*args: str) -> str | None:
    """Output of a read-only git command in the repository, or None where git or the repository is missing."""
    try:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def python_speed_probe() -> float:
    """Seconds this machine takes for 5 million additions in a Python loop: a yardstick across machines."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return round(time.perf_counter() - started, 2)


def environment_facts(args: argparse.Namespace) -> dict[str, Any]:
    """The machine, the software and the database the figures were taken on."""
    commit = git("rev-parse", "--short", "HEAD")
    changes = git("status", "--porcelain", "--", "src")
    database: dict[str, Any] = {"kind": args.database}
    if args.database == "sqlite":
        database |= {"sqlite_version": sqlite3.sqlite_version, "synchronous": "FULL (node default)",
                     "journal_mode": "WAL"}
    else:
        database |= {"server_version": postgres_version(args.pg_admin),
                     "server": args.pg_admin.rsplit("/", 1)[0].rsplit("@", 1)[-1],
                     "layout": "one fresh database per node"}
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python_loop_5m_additions_s": python_speed_probe(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hanoinet": __version__,
        "commit": commit,
        "src_has_uncommitted_changes": None if changes is None else bool(changes),
        "database": database,
        "node_log_level": args.log_level,
        "processes": "2 x `hanoinet serve` (uvicorn, 1 worker each) + this load generator, no CPU pinning",
    }


# -- main -----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=300.0, help="messages offered per second (300)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of offered load (60)")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="seconds to wait after the offer for the outbox to empty (30)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                        help="database of both nodes (sqlite)")
    parser.add_argument("--pg-admin", default=DEFAULT_PG_ADMIN,
                        help="PostgreSQL URL used to create and drop the benchmark's databases "
                             "(HANOINET_TEST_PG, default postgresql://postgres@127.0.0.1:5432/test)")
    parser.add_argument("--concurrency", type=int, default=64, help="most API requests in flight (64)")
    parser.add_argument("--warmup", type=int, default=20, help="messages sent and delivered before timing (20)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level of the nodes (info, the default)")
    parser.add_argument("--out", nargs="?", const="", default=None, metavar="FILE",
                        help="also write the JSON to FILE (without FILE: bench/results/exchange-<timestamp>.json)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.drain < 0 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--rate, --duration and --concurrency must be positive; --drain and --warmup not negative")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, load, drain, measure, tear down (always, even on error)."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hanoinet-bench-")))
        sender = NodeSpec("VNM", "Viet Nam", work / "vnm", free_port())
        receiver = NodeSpec("FRA", "France", work / "fra", free_port())
        if args.database == "postgres":
            sender.database_url = stack.enter_context(postgres_database(args.pg_admin, "vnm"))
            receiver.database_url = stack.enter_context(postgres_database(args.pg_admin, "fra"))
        environment = environment_facts(args)
        log(f"setting up two nodes in {work} ({args.database})")
        token = provision(work, sender, receiver)

        processes: list[NodeProcess] = []

        def stop_nodes() -> None:
            for process in reversed(processes):
                process.stop()

        stack.callback(stop_nodes)
        for spec in (receiver, sender):
            processes.append(NodeProcess(spec, work, args.log_level))
        for p in processes:
            p.wait_healthy()
        log("nodes up: " + ", ".join(f"{p.spec.state} pid {p.process.pid} at {p.spec.url}" for p in processes))

        engine = read_engine(sender.db_url)
        stack.callback(engine.dispose)
        receiver_engine = read_engine(receiver.db_url)
        stack.callback(receiver_engine.dispose)

        if args.warmup:
            log(f"warm-up: {args.warmup} messages")
            warm = asyncio.run(offer_load(sender.url, token, rate=min(args.rate, 50.0),
                                          duration=args.warmup / min(args.rate, 50.0), concurrency=8,
                                          first_index=-args.warmup))
            if warm.failures:
                raise RuntimeError(f"warm-up messages failed: {dict(warm.failures)}\n{processes[1].tail()}")
            wait_for_drain(engine, 30)

        phases = PhaseMeter({"sender": processes[1].process.pid, "receiver": processes[0].process.pid})
        log(f"offering {args.rate:g} messages/s for {args.duration:g} s")
        phases.mark()
        load = asyncio.run(offer_load(sender.url, token, rate=args.rate, duration=args.duration,
                                      concurrency=args.concurrency))
        phases.mark()
        log(f"offer done: {load.sent} of {load.planned} sent at {load.achieved_rate:.1f}/s, "
            f"{len(load.accepted_ids)} accepted, {sum(load.failures.values())} failed; "
            f"draining up to {args.drain:g} s")
        drained = wait_for_drain(engine, args.drain)
        phases.mark()
        rows = outbox_rows(engine)
        received = inbox_count(receiver_engine)
        for p in processes:
            if p.process.poll() is not None:
                log(f"warning: {p.spec.state} node exited early ({p.process.returncode}):\n{p.tail()}")
        result = report(args, load, rows, received, drained, phases, environment)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON (and write it with --out)."""
    args = parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        path = Path(args.out) if args.out else RESULTS / f"exchange-{time.strftime('%Y%m%dT%H%M%S')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
