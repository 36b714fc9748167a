"""The CPU floor of one message on this machine: what the exchange costs before any of the node's own work.

The exchange benchmark (``exchange.py``) asks for 300 messages a second between two nodes on one machine,
with the load generator on the same machine. Each message crosses two HTTP hops (load generator to the
sending node's API, sending node to the receiving node), is sealed and opened once (Ed25519 + X25519 +
AES-GCM), and is committed durably several times. This benchmark measures those unavoidable parts alone, with
the same libraries and settings the node uses, and prints CPU milliseconds per message:

- ``http_hop``: an empty FastAPI ``POST`` served by uvicorn (httptools, uvloop) and sent by an
  ``httpx.AsyncClient`` with keep-alive: server and client processes, CPU per request;
- ``seal_open``: sealing an envelope and opening it (``hanoinet.network.envelope``), plus signing and
  verifying the receipt;
- ``commit``: one SQLite transaction inserting one row with ``synchronous=FULL`` in WAL mode, through
  SQLAlchemy Core (no ORM), the least a durable step costs.

It then adds up the floor of one message (2 hops, 1 seal/open, 4 commits: outbox, claim, inbox, settle) and
compares it with the CPU the machine has: ``cores * 1000 / rate`` milliseconds per message.

Usage: .venv/bin/python bench/floor.py [--requests 3000] [--rate 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.crypto.keys import KeyPair, import_public_jwk
from hanoinet.db.database import Database

SERVER = """
import sys
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()

@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/jose")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", http="httptools", loop="uvloop")
"""


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _drive(url: str, count: int, body: bytes) -> None:
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=16)) as client:
        semaphore = asyncio.Semaphore(16)

        async def one() -> None:
            async with semaphore:
                response = await client.post(url, content=body, headers={"content-type": "application/jose"})
                response.raise_for_status()

        await asyncio.gather(*(one() for _ in range(count)))


def http_hop(requests: int) -> dict[str, float]:
    """CPU ms per request of an empty POST: server process, client process."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{port}/echo", content=b"x", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        body = b"e" * 1500  # about the size of a small envelope
        asyncio.run(_drive(f"http://127.0.0.1:{port}/echo", 200, body))  # warm-up
        server_before, client_before = _cpu_of(server.pid), _own_cpu()
        asyncio.run(_drive(f"http://127.0.0.1:{port}/echo", requests, body))
        server_ms = (_cpu_of(server.pid) - server_before) * 1000 / requests
        client_ms = (_own_cpu() - client_before) * 1000 / requests
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"server_ms": round(server_ms, 3), "client_ms": round(client_ms, 3)}


def seal_open(requests: int) -> dict[str, float]:
    """CPU ms to seal and open one envelope (sign, encrypt, decrypt, verify) and sign and verify its receipt."""
    signer, receiver_sig, receiver_enc = KeyPair.generate("sig"), KeyPair.generate("sig"), KeyPair.generate("enc")
    signer_public = import_public_jwk(signer.public, use="sig")
    receiver_public = import_public_jwk(receiver_sig.public, use="sig")
    enc_public = import_public_jwk(receiver_enc.public, use="enc")
    payload = {"v": 1, "id": "019cade2-11c0-7123-8456-789abcdef012", "kind": "note.text", "from": "VNM/247",
               "to": "FRA/247", "created": "2026-11-24T03:00:00.000Z", "case": "CASE-1",
               "body": {"subject": "s", "text": "t" * 500, "language": "en"}}
    receipt = {"type": "hanoinet-receipt", "v": 1, "message_id": payload["id"], "jws_sha256": "0" * 64,
               "jwe_sha256": "0" * 64, "received_at": "2026-11-24T03:00:00.010Z", "receiver": "FRA",
               "receiver_kid": receiver_sig.kid}
    start = _own_cpu()
    for _ in range(requests):
        signed = jose.sign(canonical_json(payload), signer, typ="hanoinet-msg+jws")
        sealed = jose.encrypt(signed.encode("ascii"), enc_public, kid=receiver_enc.kid, cty="hanoinet-msg+jws")
        opened = jose.decrypt(sealed, {receiver_enc.kid: receiver_enc}, cty="hanoinet-msg+jws")
        parse_json(jose.verify(opened.plaintext.decode("ascii"), signer_public, typ="hanoinet-msg+jws"),
                   what="payload")
        proof = jose.sign(canonical_json(receipt), receiver_sig, typ="hanoinet-receipt+jws")
        jose.verify(proof, receiver_public, typ="hanoinet-receipt+jws")
    return {"ms": round((_own_cpu() - start) * 1000 / requests, 3)}


def commit(requests: int) -> dict[str, float]:
    """CPU and wall ms of one durable single-row SQLite transaction (WAL, synchronous=FULL), Core only."""
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{folder}/floor.db", sqlite_synchronous="FULL")
        table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", String(100)))
        table.metadata.create_all(database.engine)
        cpu, wall = _own_cpu(), time.perf_counter()
        for i in range(requests):
            with database.engine.begin() as connection:
                connection.execute(insert(table).values(v=str(i)))
        result = {"cpu_ms": round((_own_cpu() - cpu) * 1000 / requests, 3),
                  "wall_ms": round((time.perf_counter() - wall) * 1000 / requests, 3)}
        database.dispose()
    return result


def main() -> None:
    """Measure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=300, help="the target rate, messages per second")
    args = parser.parse_args()
    hop = http_hop(args.requests)
    crypto = seal_open(max(args.requests // 3, 100))
    durable = commit(max(args.requests // 3, 100))
    floor = 2 * (hop["server_ms"] + hop["client_ms"]) + crypto["ms"] + 4 * durable["cpu_ms"]
    cores = os.cpu_count() or 1
    budget = cores * 1000 / args.rate
    print(json.dumps({
        "http_hop": hop, "seal_open_receipt": crypto, "durable_commit": durable,
        "floor_cpu_ms_per_message": round(floor, 2),
        "budget_cpu_ms_per_message": round(budget, 2), "cores": cores, "target_rate": args.rate,
        "floor_rate_at_full_cpu": round(cores * 1000 / floor, 1),
        "note": "floor: 2 HTTP hops (server + client), one seal/open with receipt, 4 durable commits; "
                "budget: all cores at the target rate; the nodes' own work comes on top of the floor",
    }, indent=2))


if __name__ == "__main__":
    main()
