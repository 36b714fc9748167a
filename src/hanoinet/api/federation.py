"""``/federation/v1``: what other States' nodes call (docs/protocol.md, "HTTP endpoints")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hanoinet.api.inputs import CheckedRoute
from hanoinet.api.problems import problem_responses
from hanoinet.errors import EnvelopeRefused, HanoinetError
from hanoinet.network import inbox
from hanoinet.network.ratelimit import RateLimiter
from hanoinet.network.transport import JOSE_MEDIA_TYPE
from hanoinet.node.node import Node

router = APIRouter(route_class=CheckedRoute, prefix="/federation/v1", tags=["federation"])


class JoseResponse(Response):
    """A compact JWS or JWE, as the OpenAPI document declares it."""

    media_type = JOSE_MEDIA_TYPE


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def _read_limited(request: Request, limit: int) -> bytes:
    # Refuse oversize bodies before reading them whole, and long before any decryption.
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise EnvelopeRefused(f"envelope of {declared} bytes exceeds the limit of {limit}", code="too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EnvelopeRefused(f"envelope exceeds the limit of {limit} bytes", code="too_large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/envelopes", summary="Deliver one envelope; answers with a signed receipt", response_class=JoseResponse,
             responses=problem_responses({
                 400: "the envelope is refused (its code says why: bad_signature, expired, unknown_sender ...)",
                 409: "an envelope with this id but other contents, or out of order (id_conflict, out_of_order)",
                 413: "the envelope exceeds this node's limit (too_large)",
                 415: f"the content type is not {JOSE_MEDIA_TYPE} (unsupported_media_type)",
                 429: "too many envelopes from this peer (rate_limited); retry later",
                 503: "this node has no valid directory (no_directory, directory_expired)"}))
async def post_envelope(request: Request) -> Response:
    """Accept one JWE envelope (``application/jose``) and return the signed receipt (``application/jose``)."""
    node = _node(request)
    limiter: RateLimiter = request.app.state.peer_limiter
    metrics = node.metrics.envelopes_received
    try:
        peer = request.client.host if request.client else "unknown"
        if not limiter.allow(peer):
            raise EnvelopeRefused(f"too many envelopes from {peer}", hint="slow down and retry",
                                  code="rate_limited")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != JOSE_MEDIA_TYPE:
            raise EnvelopeRefused(f"content type must be {JOSE_MEDIA_TYPE}, got {media or 'none'}",
                                  code="unsupported_media_type")
        body = await _read_limited(request, node.settings.max_envelope_bytes)
        received = await run_in_threadpool(inbox.receive, node, body)
    except HanoinetError as exc:
        metrics.labels(exc.code if isinstance(exc, EnvelopeRefused) else "error").inc()
        raise
    metrics.labels("duplicate" if received.duplicate else "accepted").inc()
    headers = {"hanoinet-duplicate": "true"} if received.duplicate else {}
    return Response(received.receipt, media_type=JOSE_MEDIA_TYPE, headers=headers)


@router.get("/card", summary="This node's self-signed member card", response_class=JoseResponse)
async def get_card(request: Request) -> Response:
    """The member card as a JWS, for peers and for the Secretariat."""
    return Response(_node(request).signed_card(), media_type=JOSE_MEDIA_TYPE)
