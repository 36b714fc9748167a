"""``make demo``: three States exchange signed, encrypted messages through real node processes.

The scenario, at 3 a.m. in Hanoi: Viet Nam's 24/7 desk asks France's to preserve server logs of an
attack on a hospital; France's node is killed mid-delivery and comes back; nothing is lost or duplicated;
a tampered envelope and a replayed one are refused. Everything runs on loopback in ``demo-data/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from hanoinet.crypto.keys import thumbprint
from hanoinet.demo.network import LocalNetwork

console = Console(highlight=False)


def step(title: str) -> None:
    """Print a scenario step heading."""
    console.rule(f"[bold]{title}")


def main() -> int:
    """Run the scenario; returns the process exit status (0 when every check held)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=Path("demo-data"), help="where the nodes live (wiped first)")
    parser.add_argument("--keep-running", action="store_true", help="leave the nodes running at the end")
    args = parser.parse_args()
    if args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True)
    net = LocalNetwork(
        args.dir.resolve(),
        [("VNM", "Viet Nam - Ministry of Public Security", ["vi", "en"]),
         ("FRA", "France - OFAC 24/7", ["fr", "en"]),
         ("BRA", "Brazil - Federal Police", ["pt", "en"])],
        env={"HANOINET_DELIVERY_BACKOFF_MAX_SECONDS": "1"},
    )
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        console.print(f"  {'[green]✔' if ok else '[red]✘'}[/] {what}")
        if not ok:
            failures.append(what)

    try:
        step("1. The Secretariat creates the directory; three States set up their nodes")
        net.setup()
        authority = json.loads((args.dir / "secretariat" / "authority.jwk").read_text(encoding="utf-8"))
        console.print(f"  directory version 1 published with {len(net.members)} members; every node pinned "
                      f"the authority key {thumbprint(authority)}")
        vnm = net.add_officer("VNM", "Nguyen Thi Lan", "duty_officer", "247")
        fra = net.add_officer("FRA", "Camille Martin", "duty_officer", "247")
        bra = net.add_officer("BRA", "Joao Silva", "duty_officer", "247")
        for state in net.members:
            net.start(state)
            console.print(f"  {state} node serving at {net.members[state].url}")

        step("2. 03:00 Hanoi: Viet Nam's 24/7 desk asks France to preserve logs")
        first = net.api("VNM", vnm, "POST", "/api/v1/messages", json={
            "to": "FRA/247", "kind": "note.text", "case": "VNM-2026-0117",
            "body": {"subject": "URGENT: preserve logs of ransomware C2 server",
                     "text": "A hospital in Hanoi is under ransomware attack. Please preserve logs of "
                             "203.0.113.7 hosted in France for 2026-11-22/23.", "language": "en"},
        })["message_id"]
        net.wait_until(lambda: _status(net, "VNM", vnm, first) == "delivered", timeout=15)
        detail = net.api("VNM", vnm, "GET", f"/api/v1/messages/{first}")
        check(detail["status"] == "delivered", f"delivered to FRA/247 with a signed receipt ({first})")
        inbox = net.api("FRA", fra, "GET", "/api/v1/messages", params={"direction": "in"})
        check([m["message_id"] for m in inbox] == [first], "France's duty officer sees it in the inbox")
        check(net.api("BRA", bra, "GET", "/api/v1/messages") == [], "Brazil sees nothing of it")

        step("3. France's node is killed (SIGKILL) while Viet Nam keeps sending")
        net.kill("FRA", signal.SIGKILL)
        more = [net.api("VNM", vnm, "POST", "/api/v1/messages", json={
            "to": "FRA/247", "kind": "note.text", "case": "VNM-2026-0117",
            "body": {"subject": f"Follow-up {i}", "text": "Further indicators attached."}})["message_id"]
            for i in range(1, 6)]
        pending = [m for m in _outbox(net, vnm) if m["status"] == "pending"]
        check(len(pending) == 5, f"{len(pending)} messages wait in Viet Nam's durable outbox")
        net.start("FRA")
        net.wait_until(lambda: all(m["status"] == "delivered" for m in _outbox(net, vnm)), timeout=30)
        received = [m["message_id"] for m in net.api("FRA", fra, "GET", "/api/v1/messages", params={"direction": "in"})]
        check(sorted(received) == sorted([first, *more]), "after restart France holds all 6 messages, none twice")

        step("4. Attacks: a tampered envelope and a replayed one")
        jwe = _last_envelope(args.dir / "vnm" / "node.db")
        tampered = bytearray(jwe)
        tampered[len(tampered) // 2] ^= 1
        answer = _post(net, "FRA", bytes(tampered))
        check(answer.status_code == 400, f"tampered envelope refused: {answer.json()['code']}")
        replay = _post(net, "FRA", jwe)
        check(replay.headers.get("hanoinet-duplicate") == "true", "replayed envelope answered with the original "
              "receipt and not processed again")

        step("5. Summary")
        table = Table("message", "to", "status", "attempts")
        for m in _outbox(net, vnm):
            table.add_row(str(m["message_id"]), str(m["to"]), str(m["status"]), str(m["attempts"]))
        console.print(table)
        console.print(f"Node data and logs are in {args.dir}/. "
                      "Try: hanoinet message list --node " + net.members["VNM"].url)
        if args.keep_running:
            console.print("Nodes keep running; press Ctrl-C to stop them.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        net.stop_all()
    if failures:
        console.print(f"[red bold]{len(failures)} check(s) failed[/]")
        return 1
    console.print("[green bold]All checks held.[/]")
    return 0


def _outbox(net: LocalNetwork, token: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = net.api("VNM", token, "GET", "/api/v1/messages", params={"direction": "out"})
    return rows


def _status(net: LocalNetwork, state: str, token: str, message_id: str) -> object:
    return net.api(state, token, "GET", f"/api/v1/messages/{message_id}")["status"]


def _post(net: LocalNetwork, state: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{net.members[state].url}/federation/v1/envelopes", content=body,
                      headers={"content-type": "application/jose"}, timeout=10)


def _last_envelope(database: Path) -> bytes:
    import sqlite3

    with sqlite3.connect(database) as conn:
        row = conn.execute("select jwe from outbox order by id desc limit 1").fetchone()
    return bytes(row[0])


if __name__ == "__main__":
    sys.exit(main())
