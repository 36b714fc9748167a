"""The ASGI application of a node, and the background work that runs beside it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from hanoinet import __version__
from hanoinet.alerts.worker import AlertWorker
from hanoinet.api import (
    accesslog,
    alarms,
    apidocs,
    cases,
    evidence,
    federation,
    hashbank,
    ledger,
    officers,
    openapi,
    privacy,
    problems,
    requests,
    rota,
    takedown,
    victims,
)
from hanoinet.api.gate import Gate
from hanoinet.api.inputs import CheckedRoute
from hanoinet.clock import now
from hanoinet.db.models import OutboxMessage
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.sweep import run_sweeper
from hanoinet.evidence.transfer import run_puller
from hanoinet.evidence.uploads import MAX_PIECE
from hanoinet.hashbank import takedown as takedown_service
from hanoinet.hashbank.matcher import Matcher
from hanoinet.hashbank.replication import run_publisher
from hanoinet.ledger import witnessing
from hanoinet.ledger.log import Sequencer
from hanoinet.network.delivery import DeliveryWorker
from hanoinet.network.directory_sync import poll_directory
from hanoinet.network.ratelimit import RateLimiter
from hanoinet.network.transport import HttpTransport
from hanoinet.node import alarms as node_alarms
from hanoinet.node.node import Node
from hanoinet.privacy.retention import run_retention
from hanoinet.requests import jobs as request_jobs

#: A report, a decision, a note, a rota entry or a cosignature: a few hundred bytes.
SMALL_BODY = 64 * 1024
#: A signed directory: some 200 States with their desks and keys, well under 1 MiB as JSON, base64-encoded.
DIRECTORY_BODY = 4 * 1024 * 1024
#: A witness's report of a fork: two checkpoints of at most 100,000 characters each.
FORK_REPORT_BODY = 256 * 1024


def body_limits(max_envelope_bytes: int) -> dict[str, int]:
    """Each route's body limit where it is not the gate's default (docs/protocol.md, 15.6): by method and path.

    ``max_envelope_bytes`` is the node's setting of that name, the limit of an envelope from a peer.
    """
    return {
        "POST /api/v1/alarms/{alarm_id}/acknowledge": SMALL_BODY,
        "POST /api/v1/alarms/{alarm_id}/clear": SMALL_BODY,
        "POST /api/v1/rota": SMALL_BODY,
        "POST /api/v1/directory": DIRECTORY_BODY,
        "PUT /api/v1/evidence/uploads/{upload_id}": MAX_PIECE,
        "POST /api/v1/match": hashbank.MATCH_BODY_LIMIT,
        "POST /api/v1/hashbank/reports": SMALL_BODY,
        "POST /api/v1/hashbank/reports/{report_id}/false-positive": SMALL_BODY,
        "POST /api/v1/reviews/{report_id}": SMALL_BODY,
        "POST /api/v1/reviews/entries/{entry}/release": SMALL_BODY,
        "POST /federation/v1/envelopes": max_envelope_bytes,
        "POST /federation/v1/ledger/cosignatures": SMALL_BODY,
        "POST /federation/v1/ledger/reports": FORK_REPORT_BODY,
        **victims.BODY_LIMITS,
    }


def create_app(node: Node, *, background: bool = True) -> FastAPI:
    """The node's HTTP application; with ``background`` it also runs delivery, duty alerts and directory polling."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        transport = HttpTransport(ca_file=node.settings.tls_ca_file,
                                  connections_per_peer=node.settings.delivery_concurrency)
        if background:
            worker_id = f"{socket.gethostname()}:{os.getpid()}"
            worker = DeliveryWorker(node, transport, worker_id=worker_id)
            tasks.append(asyncio.create_task(worker.run(stop)))
            tasks.append(asyncio.create_task(AlertWorker(node, worker_id=worker_id).run(stop)))
            tasks.append(asyncio.create_task(request_jobs.keep_clocks(node, stop)))
            tasks.append(asyncio.create_task(Sequencer(node, holder=worker_id).run(stop)))
            tasks.append(asyncio.create_task(
                witnessing.run(node, stop, interval=node.settings.witness_interval_seconds)))
            tasks.append(asyncio.create_task(poll_directory(node, stop)))
            tasks.append(asyncio.create_task(run_puller(evidence_service, stop)))
            tasks.append(asyncio.create_task(run_sweeper(evidence_service, stop)))
            tasks.append(asyncio.create_task(run_retention(evidence_service, stop)))
            tasks.append(asyncio.create_task(run_publisher(node, stop)))
            tasks.append(asyncio.create_task(matcher.run(stop)))
            tasks.append(asyncio.create_task(takedown_service.run(node, stop)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await transport.aclose()

    app = FastAPI(
        title="hanoinet node", version=__version__, lifespan=lifespan,
        description="A State's node for cooperation under the UN Convention against Cybercrime.",
        docs_url=None, redoc_url=None,  # served by apidocs, with their scripts from the node, not a CDN
    )
    app.router.route_class = CheckedRoute  # the application's own routes (healthz, metrics)
    app.state.node = node
    evidence_service = EvidenceService(node)
    app.state.evidence = evidence_service
    matcher = Matcher(node.db, node.settings.data_dir / "hashbank")
    matcher.open()
    app.state.matcher = matcher
    app.state.peer_limiter = RateLimiter(node.settings.peer_rate_per_second, node.settings.peer_rate_burst)
    problems.install(app)
    apidocs.install(app)
    victims.install(app)
    accesslog.install()
    app.include_router(federation.router)
    app.include_router(officers.router)
    app.include_router(alarms.router)
    app.include_router(rota.router)
    app.include_router(requests.router)
    app.include_router(cases.router)
    app.include_router(ledger.router)
    app.include_router(evidence.router)
    app.include_router(privacy.router)
    app.include_router(hashbank.router)
    app.include_router(takedown.router)
    # Token first, then size, before any route reads a byte of its body (api/gate.py).
    limits = body_limits(node.settings.max_envelope_bytes)
    app.add_middleware(Gate, limits=limits)
    openapi.install(app, limits)

    @app.get("/healthz", tags=["operations"], summary="Liveness and the facts an operator checks first")
    async def healthz(request: Request) -> dict[str, Any]:
        return await run_in_threadpool(_health, node)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _health(node: Node) -> dict[str, Any]:
    directory = node.directory
    with node.db.transaction(readonly=True) as uow:
        pending = uow.session.scalar(select(func.count()).where(OutboxMessage.status == "pending"))
        alarm_counts = node_alarms.counts(uow.session)
    return {
        "status": "ok",
        "state": node.state,
        "version": __version__,
        "directory_version": directory.version if directory else None,
        "directory_expired": directory.expired(now()) if directory else None,
        "outbox_pending": pending,
        # Open: nobody has acknowledged them yet (what a monitor should page on); acknowledged: in hand.
        "open_alarms": alarm_counts[node_alarms.AlarmState.OPEN],
        "acknowledged_alarms": alarm_counts[node_alarms.AlarmState.ACKNOWLEDGED],
    }
