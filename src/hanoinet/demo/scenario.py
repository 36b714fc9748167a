"""The demo scenario: a ransomware attack on a hospital, followed across three States' 24/7 desks.

03:00 in Hanoi. Viet Nam's 24/7 desk asks France to preserve the logs of the provider hosting the attack
server (Art. 42); France's duty officer is woken by e-mail and acknowledges; France's node is killed and comes
back while Viet Nam keeps sending; traffic data disclosed by France (Art. 43) lead to a provider in Brazil,
which has reserved dual criminality for preservation; a second preservation request goes there; an emergency
disclosure request (Art. 41) follows; one request is refused with a ground, one withdrawn; Brazil sends the
records it preserved as a sealed evidence package, which Viet Nam pulls and verifies offline. Then a victim in
Viet Nam submits the hashes of two intimate images (Art. 16); copies surface on a platform registered in France,
which matches one, a French reviewer confirms, the platform removes it, and the victim's status page shows it;
the victim withdraws the other hash and it stops matching everywhere. Finally Viet Nam's central authority asks
France's for the data France preserved (Art. 44, mutual legal assistance): France asks for a missing item, gets
it, executes and returns an evidence package for that request only; Viet Nam's attempt to send it on to Brazil
is refused until France consents by envelope (Art. 36, 40). Everything goes through real node processes and
their HTTP APIs, as officers, platforms and victims would use them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from PIL import Image, ImageDraw, ImageFilter
from rich.console import Console

from hanoinet.cli.common import program
from hanoinet.clock import format_instant
from hanoinet.crypto.keys import thumbprint
from hanoinet.demo.mailsink import MailSink
from hanoinet.demo.network import LocalNetwork
from hanoinet.evidence.report import render_html
from hanoinet.evidence.verify import Report, verify_package
from hanoinet.hashbank import pdq
from hanoinet.ledger.bundle import verify_bundle

#: Why the officers read the requests and the evidence of the story (each read is in their node's access log).
READ = "the Bach Mai hospital ransomware case"
NAMES = {"VNM": "Viet Nam", "FRA": "France", "BRA": "Brazil"}
ZONES = {"VNM": "Asia/Ho_Chi_Minh", "FRA": "Europe/Paris", "BRA": "America/Sao_Paulo"}
BRA_RESERVATION = (
    'declarations = [{ article = "42", kind = "reservation", effect = "dual_criminality_required", '
    'params = { applies_to_preservation = true, except_articles = ["7", "8", "9", "10", "11"] }, '
    'text = "Brazil may require dual criminality for preservation of data on offences other than Art. 7-11." }]'
)
AUTHORITY = "Viet Nam, Ministry of Public Security, A05 cyber unit, 24/7 desk +84 24 0000 0000"
#: Viet Nam's central authority, the requesting authority of the MLA request (Art. 40).
CENTRAL_AUTHORITY = ("Viet Nam, Ministry of Public Security, Department of International Cooperation (central "
                     "authority), 44 Yet Kieu, Hanoi; contact Pham Thu Ha, +84 24 0000 0001, ha@ca.vnm.invalid")
#: France's case under which its central authority executes the request and seals the evidence.
FRA_CASE = "FRA-BEPI-2026-0452"
FACTS = ("Since 02:10 the Bach Mai hospital network in Hanoi is encrypted by ransomware; emergency and ICU systems "
         "are down. The malware reports to a command server at 203.0.113.7.")


class Demo:
    """The scenario's state: the network, the officers' tokens, the checks and the counts."""

    def __init__(self, root: Path, console: Console, *, quiet: bool) -> None:
        self.mail = MailSink()
        self.net = LocalNetwork(
            root,
            [("VNM", "Viet Nam - Ministry of Public Security", ["vi", "en"]),
             ("FRA", "France - OFAC 24/7", ["fr", "en"]),
             ("BRA", "Brazil - Federal Police", ["pt", "en"])],
            env={"HANOINET_DELIVERY_BACKOFF_MAX_SECONDS": "1", "HANOINET_SMTP_HOST": "127.0.0.1",
                 "HANOINET_SMTP_PORT": str(self.mail.port), "HANOINET_SMTP_FROM": "alerts@hanoinet.invalid",
                 "HANOINET_DIRECTORY_POLL_SECONDS": "5", "HANOINET_WITNESS_INTERVAL_SECONDS": "2"},
        )
        self.console = console
        self.quiet = quiet
        self.tokens: dict[str, str] = {}
        #: Whose each token is: State, desk and role, printed beside it by ``--keep``.
        self.holders: dict[str, str] = {}
        self.failures: list[str] = []
        self.refs: dict[str, str] = {}
        #: Who reads a request on each side when it is not the 24/7 desk's (the MLA request: the CA desks).
        self.readers: dict[str, dict[str, str]] = {}

    # -- output and checks ---------------------------------------------------------------------------------

    def step(self, title: str) -> None:
        """A scenario heading."""
        if not self.quiet:
            self.console.rule(f"[bold]{title}")

    def say(self, state: str, text: str) -> None:
        """One line of the timeline, in the State's local time."""
        if not self.quiet:
            local = datetime.now(ZoneInfo(ZONES[state])).strftime("%H:%M:%S")
            self.console.print(f"  [dim]{local} {state}[/] {text}")

    def check(self, ok: bool, what: str) -> None:
        """Record a check; the demo exits non-zero if any failed."""
        if not self.quiet:
            self.console.print(f"  {'[green]✔' if ok else '[red]✘'}[/] {what}")
        if not ok:
            self.failures.append(what)

    # -- calls as officers make them -------------------------------------------------------------------------

    def call(self, state: str, who: str, method: str, path: str, **kwargs: Any) -> Any:
        """An officer's API call; raises with the problem document on an error status."""
        return self.net.api(state, self.tokens[who], method, path, **kwargs)

    def attempt(self, state: str, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API call whose refusal is expected and shown."""
        return httpx.request(method, self.net.members[state].url + path, timeout=30,
                             headers={"authorization": f"Bearer {self.tokens[who]}"}, **kwargs)

    def request(self, state: str, who: str, ref: str) -> dict[str, Any]:
        """A request as ``who`` sees it, read for the case it serves (recorded in the node's access log)."""
        result: dict[str, Any] = self.call(state, who, "GET", f"/api/v1/requests/{ref}", params={"reason": READ})
        return result

    def act(self, state: str, who: str, ref: str, action: str, **data: Any) -> dict[str, Any]:
        """Act on a request with the version just read (optimistic concurrency, as the console does)."""
        version = self.request(state, who, ref)["version"]
        result: dict[str, Any] = self.call(state, who, "POST", f"/api/v1/requests/{ref}/{action}",
                                           json={"version": version, **data})
        return result

    def wait_state(self, state: str, who: str, ref: str, wanted: str, timeout: float = 30) -> bool:
        """Wait until ``ref`` is ``wanted`` on ``state``'s node."""
        return self.net.wait_until(lambda: self._state(state, who, ref) == wanted, timeout=timeout)

    def _state(self, state: str, who: str, ref: str) -> str | None:
        try:
            return str(self.request(state, who, ref)["state"])
        except httpx.HTTPError:
            return None

    def wait_mail(self, address: str, ref: str, timeout: float = 20) -> list[Any]:
        """E-mails to ``address`` mentioning ``ref``."""
        self.net.wait_until(lambda: any(ref in str(m["Subject"]) for m in self.mail.to(address)), timeout=timeout)
        return [m for m in self.mail.to(address) if ref in str(m["Subject"])]

    # -- the story -------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Secretariat, three nodes, officers, duty rotas."""
        self.step("1. The Secretariat publishes the directory; three States start their nodes")
        self.mail.start()
        config = {state: f'desk_policies = {{ "247" = {{ timezone = "{zone}" }} }}' for state, zone in ZONES.items()}
        config["BRA"] += "\n" + BRA_RESERVATION
        self.net.setup(config)
        self.net.serve_directory()
        people = [("VNM", "lan", "Nguyen Thi Lan", "duty_officer"), ("VNM", "vnm-admin", "Tran Van Minh", "admin"),
                  ("FRA", "camille", "Camille Martin", "duty_officer"), ("FRA", "hugo", "Hugo Bernard", "duty_officer"),
                  ("FRA", "claire", "Claire Dubois", "supervisor"), ("FRA", "fra-admin", "Luc Moreau", "admin"),
                  ("BRA", "joao", "Joao Silva", "duty_officer"), ("BRA", "ana", "Ana Souza", "supervisor"),
                  ("BRA", "bra-admin", "Pedro Lima", "admin")]
        lawyers = [("VNM", "ha", "Pham Thu Ha"), ("FRA", "elise", "Elise Garnier"), ("BRA", "beatriz", "Beatriz Costa")]
        desks = [(state, key, name, role, "247") for state, key, name, role in people]
        desks += [(state, key, name, "central_authority", "CA") for state, key, name in lawyers]
        for state, key, name, role, desk in desks:
            self.tokens[key] = self.net.add_officer(state, name, role, desk, email=f"{key}@{state.lower()}.invalid")
            self.holders[key] = f"{state}, desk {state}/{desk}, {role} ({name})"
        for state in self.net.members:
            self.net.start(state)
            self.say(state, f"node serving at {self.net.members[state].url}, polling {self.net.directory_url}")
        for state, supervisor, chain in (("FRA", "claire", ["camille", "hugo"]), ("BRA", "ana", ["joao"])):
            local = datetime.now(ZoneInfo(ZONES[state]))
            for order, who in enumerate(chain, start=1):
                officer_id = self.call(state, who, "GET", "/api/v1/me")["id"]
                self.call(state, supervisor, "POST", "/api/v1/rota", json={
                    "desk": "247", "officer_id": officer_id, "order": order,
                    "from": (local - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
                    "to": (local + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")})
            self.say(state, f"duty rota of desk 247: {', '.join(chain)} (then the supervisor)")

    def preservation_in_france(self) -> None:
        """Art. 42 to France, alert, acknowledgement, execution."""
        self.step("2. 03:00 Hanoi: Viet Nam asks France to preserve the hosting provider's logs (Art. 42)")
        created = self.call("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "preservation", "to": "FRA/247", "case": "VNM-HN-2026-0117", "fields": {
                "requesting_authority": AUTHORITY, "offence": {"article": "9"}, "facts": FACTS,
                "data": "Connection and access logs of server 203.0.113.7, 2026-11-22 00:00 to now (UTC)",
                "data_relation": "The server is the ransomware's command server.",
                "custodian": "ExampleHost SAS, Roubaix (AS64500)",
                "necessity": "The provider rotates these logs every 48 hours.",
                "mla_to_follow": True, "confidential": True, "do_not_notify": True}})
        ref = self.refs["preservation-fra"] = created["ref"]
        self.say("VNM", f"Lan sends {ref} ({created['kind_title']}) to FRA/247: {created['state']}")
        self.check(self.wait_state("FRA", "camille", ref, "received"), f"{ref} received by France's node")
        mails = self.wait_mail("camille@fra.invalid", ref)
        self.check(len(mails) == 1 and "[URGENT]" in str(mails[0]["Subject"]),
                   "the officer on duty in Paris is alerted by e-mail at once")
        body = mails[0].get_body(preferencelist=("plain",)) if mails else None
        text = body.get_content() if body is not None else ""
        self.check("203.0.113.7" not in text and "hospital" not in text,
                   "the alert e-mail carries no case facts (e-mail is not end-to-end protected)")
        self.say("FRA", f"Camille's phone rings: {mails[0]['Subject'] if mails else '(no e-mail)'}")
        seen = self.request("FRA", "camille", ref)
        self.check(seen["confidential"] and seen["do_not_notify"],
                   "France sees CONFIDENTIAL and DO NOT NOTIFY THE USER on the request")
        self.act("FRA", "camille", ref, "acknowledge")
        self.check(self.wait_state("VNM", "lan", ref, "acknowledged"), "Viet Nam sees the acknowledgement")
        self.say("FRA", "Camille acknowledges, contacts ExampleHost, and records the preservation")
        self.act("FRA", "camille", ref, "start", note="ExampleHost's abuse desk reached by phone")
        self.act("FRA", "camille", ref, "execute", result={
            "preserved_at": format_instant(datetime.now(UTC)), "provider": "ExampleHost SAS",
            "what_preserved": "Connection and access logs of 203.0.113.7 since 2026-11-22"})
        self.check(self.wait_state("VNM", "lan", ref, "executed"), f"{ref} executed; both sides agree")
        clock = next(c for c in self.request("VNM", "lan", ref)["clocks"] if c["name"] == "preservation")
        self.say("VNM", f"preservation clock (Art. {clock['article']}): data kept until {clock['due']}")

    def traffic_data_across_a_restart(self) -> None:
        """Art. 43 request while France's node is down; it arrives when France comes back."""
        self.step("3. France's node is killed (SIGKILL); Viet Nam asks for the traffic data (Art. 43)")
        self.net.kill("FRA", signal.SIGKILL)
        self.say("FRA", "node killed")
        created = self.call("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "traffic_disclosure", "to": "FRA/247", "case": "VNM-HN-2026-0117", "fields": {
                "requesting_authority": AUTHORITY, "offence": {"article": "9"}, "facts": FACTS,
                "preservation_ref": self.refs["preservation-fra"],
                "data": "Where the connections administering 203.0.113.7 came from, 2026-11-22/23",
                "necessity": "To find the next provider in the chain before its logs are gone."}})
        ref = self.refs["traffic-fra"] = created["ref"]
        self.say("VNM", f"Lan sends {ref}; it waits in Viet Nam's durable outbox")
        pending = self.call("VNM", "vnm-admin", "GET", "/api/v1/messages",
                            params={"direction": "out", "status": "pending"})
        self.check(len(pending) >= 1, f"{len(pending)} envelope(s) wait for France")
        self.net.start("FRA")
        self.say("FRA", "node restarted")
        self.check(self.wait_state("FRA", "camille", ref, "received"), f"{ref} delivered after the restart")
        self.act("FRA", "camille", ref, "acknowledge")
        self.act("FRA", "camille", ref, "execute", result={
            "provider": "NuvemHost Ltda", "provider_state": "BRA",
            "path": ["203.0.113.7 (ExampleHost, FRA)", "198.51.100.23 (NuvemHost, BRA)"],
            "traffic_data": "SSH sessions to 203.0.113.7 from 198.51.100.23 on 2026-11-22 23:41-23:58 UTC",
            "next_step": "Ask Brazil to preserve NuvemHost's records for 198.51.100.23"})
        self.check(self.wait_state("VNM", "lan", ref, "executed"), "Viet Nam holds the disclosed traffic data")
        result = self.request("VNM", "lan", ref)["result"]
        self.say("VNM", f"next provider: {result['provider']} in {result['provider_state']}")

    def preservation_in_brazil(self) -> None:
        """Art. 42 to Brazil, whose dual-criminality reservation applies."""
        self.step("4. A second preservation request, to Brazil, which reserved dual criminality")
        fields = {"requesting_authority": AUTHORITY, "offence": {"article": "13"}, "facts": FACTS,
                  "data": "Subscriber and connection records of 198.51.100.23, 2026-11-20 to now",
                  "data_relation": "The attackers administered the command server from this address.",
                  "custodian": "NuvemHost Ltda, Sao Paulo", "necessity": "Records are kept for 7 days.",
                  "mla_to_follow": True}
        refused = self.attempt("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "preservation", "to": "BRA/247", "case": "VNM-HN-2026-0117", "fields": fields})
        problems = refused.json().get("problems", []) if refused.status_code == 422 else []
        self.check(any(p["field"] == "dual_criminality" for p in problems),
                   "without the dual-criminality statement Brazil's reservation stops it before sending")
        fields["dual_criminality"] = "Fraud by computer is an offence in Brazil (Penal Code, Art. 171)."
        ref = self.refs["preservation-bra"] = self.call("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "preservation", "to": "BRA/247", "case": "VNM-HN-2026-0117", "fields": fields})["ref"]
        self.say("VNM", f"Lan sends {ref} to BRA/247 with the statement")
        self.check(len(self.wait_mail("joao@bra.invalid", ref)) == 1, "Joao, on duty in Brasilia, is alerted")
        self.act("BRA", "joao", ref, "acknowledge")
        self.act("BRA", "joao", ref, "execute", result={
            "preserved_at": format_instant(datetime.now(UTC)), "provider": "NuvemHost Ltda",
            "what_preserved": "Subscriber record and connection logs of 198.51.100.23"})
        self.check(self.wait_state("VNM", "lan", ref, "executed"), f"{ref} executed by Brazil")

    def emergency(self) -> None:
        """Art. 41 emergency disclosure, the fastest clock."""
        self.step("5. The attackers threaten the ICU: an emergency disclosure request (Art. 41)")
        ref = self.refs["emergency-fra"] = self.call("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "emergency_disclosure", "to": "FRA/247", "case": "VNM-HN-2026-0117", "fields": {
                "requesting_authority": AUTHORITY,
                "emergency": "The attackers threaten to wipe the ICU ventilator management servers at 06:00.",
                "persons_at_risk": "14 ICU patients on ventilators at Bach Mai hospital",
                "justification": "The account that controls the wiper must be identified to stop it before 06:00.",
                "data": "Subscriber data of the ExampleHost account that rents 203.0.113.7"}})["ref"]
        self.say("VNM", f"Lan sends {ref}: EMERGENCY")
        mails = self.wait_mail("camille@fra.invalid", ref)
        self.check(len(mails) == 1 and "[EMERGENCY]" in str(mails[0]["Subject"]), "France's duty officer is paged: "
                   "EMERGENCY")
        self.act("FRA", "camille", ref, "acknowledge")
        ack = next(c for c in self.request("FRA", "camille", ref)["clocks"] if c["name"] == "acknowledgement")
        self.check(ack["status"] == "met", "acknowledged within the desk's 1-hour emergency target")
        self.act("FRA", "camille", ref, "execute", result={
            "data_disclosed": "Account holder: 'k.volkov', registered 2026-10-02, paid by a prepaid card",
            "provider": "ExampleHost SAS"})
        self.check(self.wait_state("VNM", "lan", ref, "executed"), f"{ref} executed")

    def refused_and_withdrawn(self) -> None:
        """A refusal with its ground, and a withdrawal."""
        self.step("6. One request refused with a ground, one withdrawn")
        ref = self.refs["location-bra"] = self.call("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "location_query", "to": "BRA/247", "priority": "normal", "fields": {
                "requesting_authority": AUTHORITY, "subject": "e-mail account k.volkov@mail.example",
                "question": "both", "facts": FACTS}})["ref"]
        self.check(self.wait_state("BRA", "joao", ref, "received"), f"{ref} received by Brazil")
        self.act("BRA", "joao", ref, "acknowledge")
        self.act("BRA", "joao", ref, "refuse", ground="domestic_law_forbids",
                 reasons="Brazilian law requires a court order to locate the holder of an e-mail account; "
                         "please send a request for mutual legal assistance.")
        self.check(self.wait_state("VNM", "lan", ref, "refused"), f"{ref} refused; Viet Nam sees the ground and "
                   "reasons")
        refusal = self.request("VNM", "lan", ref)["refusal"]
        self.say("BRA", f"Joao refuses {ref}: {refusal['ground']}")
        ref = self.refs["location-fra"] = self.call("VNM", "lan", "POST", "/api/v1/requests", json={
            "kind": "location_query", "to": "FRA/247", "priority": "normal", "fields": {
                "requesting_authority": AUTHORITY, "subject": "IP address 198.51.100.23", "question": "provider",
                "facts": FACTS}})["ref"]
        self.check(self.wait_state("FRA", "camille", ref, "received"), f"{ref} received by France")
        self.act("VNM", "lan", ref, "withdraw", reason="The provider was found through the Art. 43 disclosure.")
        self.check(self.wait_state("FRA", "camille", ref, "withdrawn"), f"{ref} withdrawn on both sides")
        self.say("VNM", f"Lan withdraws {ref}")

    def attacks(self) -> None:
        """A tampered envelope and a replayed one."""
        self.step("7. Attacks: a tampered envelope and a replayed one")
        with sqlite3.connect(self.net.members["VNM"].data / "node.db") as conn:
            jwe = bytes(conn.execute("select jwe from outbox order by id desc limit 1").fetchone()[0])
        tampered = bytearray(jwe)
        tampered[len(tampered) // 2] ^= 1
        answer = self._post("FRA", bytes(tampered))
        self.check(answer.status_code == 400, f"tampered envelope refused: {answer.json().get('code')}")
        self.check(self._post("FRA", jwe).headers.get("hanoinet-duplicate") == "true",
                   "replayed envelope answered with the original receipt and not processed again")

    def evidence(self) -> dict[str, Any]:
        """Brazil uploads, seals and offers NuvemHost's records; Viet Nam pulls them and verifies the package."""
        self.step("8. Brazil seals NuvemHost's records and sends them; Viet Nam verifies the package offline")
        case = "BRA-PF-2026-0311"
        files = {"nuvemhost-connections-198.51.100.23.log": _connection_log(),
                 "vps-198.51.100.23-disk-sample.img": os.urandom(6 * 1024 * 1024 + 12345)}
        for name, data in files.items():
            self._upload("BRA", "joao", case, name, data)
        ref = self.refs["preservation-bra"]
        offered = self.call("BRA", "joao", "POST", "/api/v1/evidence/offers", json={
            "case": case, "to": "VNM/247", "wait_witnesses": 20, "min_witnesses": 1,
            "purpose": f"Evidence answering {ref}, for the investigation of case VNM-HN-2026-0117 only",
            "conditions": ["Not to be disclosed to the public before trial"]})
        package = offered["package"]
        self.say("BRA", f"Joao seals {len(files)} files into package {package} and offers it to VNM/247")
        report = self._pull_and_verify("VNM", "lan", package)
        self.check(report.ok, "the package verifies offline: layout, signature, hashes, custody proofs, directory")
        self.check(bool(report.witnesses), f"its checkpoint is cosigned by {', '.join(report.witnesses) or 'nobody'}")
        return {"files": len(files), "bytes": sum(len(d) for d in files.values()), "package_valid": report.ok,
                "witnesses": report.witnesses}

    def _upload(self, state: str, who: str, case: str, name: str, data: bytes) -> None:
        """Upload one file in pieces of 2 MiB, as the console does, and check the node's hash of it."""
        upload = self.call(state, who, "POST", "/api/v1/evidence/uploads",
                           json={"case": case, "name": name, "size": len(data)})
        piece = 2 * 1024 * 1024
        for offset in range(0, len(data), piece):
            self.call(state, who, "PUT", f"/api/v1/evidence/uploads/{upload['id']}",
                      content=data[offset:offset + piece], headers={"upload-offset": str(offset)})
        item = self.call(state, who, "POST", f"/api/v1/evidence/uploads/{upload['id']}/complete")
        self.check(item["sha256"] == hashlib.sha256(data).hexdigest(),
                   f"{name} ingested in pieces, encrypted at rest, SHA-256 {item['sha256'][:16]}...")

    def _pull_and_verify(self, state: str, who: str, package: str) -> Report:
        """Wait until ``state``'s node has pulled ``package``, download it for the court and verify it offline."""
        pulled = self.net.wait_until(lambda: any(
            o["package"] == package and o["status"] == "complete"
            for o in self.call(state, who, "GET", "/api/v1/evidence/offers")), timeout=60)
        self.check(pulled, f"{NAMES[state]}'s node pulled every file with signed, ranged requests and checked "
                           "each chunk")
        folder = self.net.root / "evidence"
        folder.mkdir(exist_ok=True)
        path = folder / f"{package}.zip"
        response = httpx.get(f"{self.net.members[state].url}/api/v1/evidence/offers/{package}/package", timeout=60,
                             headers={"authorization": f"Bearer {self.tokens[who]}"}, params={"reason": READ})
        response.raise_for_status()
        path.write_bytes(response.content)
        authority = thumbprint(json.loads((self.net.authority / "authority.jwk").read_text(encoding="utf-8")))
        with path.open("rb") as source:
            report = verify_package(source, name=path.name, trust=[authority])
        (folder / f"{package}.html").write_text(render_html(report), encoding="utf-8")
        self.say(state, f"package and the court's report are in {folder}/; check it again with: "
                        f"{program()} verify {path} --trust {authority}")
        return report

    def victim(self) -> dict[str, Any]:
        """A victim in Viet Nam, a platform in France: matching, review, removal, status, withdrawal (Art. 16, 34)."""
        self.step("9. A victim in Viet Nam; her images surface on a platform registered in France (Art. 16, 34)")
        images = [_photo(seed) for seed in (7, 11)]
        # Her phone hashes the images (pdq.js in the page); only these hashes and their quality leave it.
        hashed = [pdq.dihedral_hashes(image) for image in images]
        created = self.post_public("VNM", "/victims/v1/cases", {
            "about_a_child": False, "language": "vi",
            "images": [{"hashes": [h.code.hex() for h in variants], "quality": variants[0].quality}
                       for variants in hashed]})
        number, secret = created["number"], created["secret"]
        self.say("VNM", f"the victim's phone sent {len(images)} x 8 hashes, no image; case {number} (Art. 16), "
                        "with a secret only she holds")
        platform = self.net.cli("platform", "add", "Example Photos SAS", "--email", "trust@photos.invalid",
                                "--data", str(self.net.members["FRA"].data)).strip()
        self.tokens["platform"] = platform
        self.holders["platform"] = "FRA, no desk, platform Example Photos SAS (hash bank API)"
        self.tokens["reviewer"] = self.net.add_officer("FRA", "Ines Laurent", "reviewer", "247")
        self.holders["reviewer"] = "FRA, desk FRA/247, reviewer (Ines Laurent)"
        upload = _reencoded(images[0])
        # The platform matches at its node; on the other nodes a duty officer checks the bank.
        searchers = {"FRA": platform, "VNM": self.tokens["lan"], "BRA": self.tokens["joao"]}

        def matched(state: str, image: bytes) -> list[dict[str, Any]]:
            body = {"items": [{"ref": "upload", "image": base64.b64encode(image).decode()}]}
            answer = self.net.api(state, searchers[state], "POST", "/api/v1/match", json=body)
            found: list[dict[str, Any]] = answer["items"][0]["matches"]
            return found

        self.check(self.net.wait_until(lambda: bool(matched("FRA", upload)), timeout=30),
                   "France's node received the hashes from Viet Nam's, and the platform's re-encoded copy matches")
        [hit] = matched("FRA", upload)
        self.say("FRA", f"Example Photos matches an upload at distance {hit['distance']}, holds it, and reports it")
        report = self.call_platform("FRA", "POST", "/api/v1/hashbank/reports", json={
            "entry": hit["entry"], "content_ref": "photo/88412", "distance": hit["distance"],
            "action": "under_review"})
        queue = self.call("FRA", "reviewer", "GET", "/api/v1/reviews")["reports"]
        self.check([r["id"] for r in queue] == [report["id"]], "the match waits for a human reviewer in France")
        confirmed = self.call("FRA", "reviewer", "POST", f"/api/v1/reviews/{report['id']}",
                              json={"decision": "confirm", "note": "intimate image, matches the upload"})
        self.say("FRA", f"Ines confirms; the platform must act by {confirmed['due_at']}")
        notices = self.call_platform("FRA", "GET", "/api/v1/hashbank/notices")["notices"]
        self.check([n["id"] for n in notices] == [report["id"]], "the platform sees the notice and its deadline")
        self.call_platform("FRA", "POST", "/api/v1/hashbank/reports", json={
            "entry": hit["entry"], "content_ref": "photo/88412", "distance": hit["distance"], "action": "removed"})

        def status() -> dict[str, Any]:
            shown: dict[str, Any] = self.post_public("VNM", "/victims/v1/cases/status",
                                                     {"number": number, "secret": secret})
            return shown

        def removed() -> bool:
            takedowns = status()["images"][0]["takedowns"]
            return [(t["state"], t["platform"], t["status"]) for t in takedowns] == \
                [("FRA", "Example Photos SAS", "removed")]
        self.check(self.net.wait_until(removed, timeout=30),
                   "the victim's status page (case number and secret) shows: France, Example Photos SAS, removed")
        self.post_public("VNM", "/victims/v1/cases/withdraw", {"number": number, "secret": secret, "images": [2]})
        self.say("VNM", "the victim withdraws her second image's hash")
        gone = self.net.wait_until(lambda: all(not matched(state, images[1]) for state in searchers), timeout=30)
        self.check(gone, "the withdrawn hash no longer matches on any node")
        self.check(bool(matched("FRA", upload)), "the other image still matches")
        return {"case": number, "removed": removed(), "withdrawn_everywhere": gone}

    def mutual_legal_assistance(self) -> dict[str, Any]:
        """Art. 44 from Viet Nam's central authority to France's, for the data France preserved (Art. 42, 44)."""
        self.step("10. Viet Nam's central authority asks France for the data (Art. 44)")
        preserved = self.refs["preservation-fra"]
        created = self.call("VNM", "ha", "POST", "/api/v1/requests", json={
            "kind": "stored_data", "to": "FRA/CA", "case": "VNM-HN-2026-0117", "fields": {
                "requesting_authority": CENTRAL_AUTHORITY, "proceeding_stage": "investigation",
                "proceeding": "Criminal investigation of the ransomware attack on Bach Mai hospital: illegal access "
                              "and interference with computer systems and data (Art. 7, 9, 10), extortion.",
                "conducting_authority": "People's Procuracy of Hanoi, with the A05 cyber unit of the Ministry of "
                                        "Public Security",
                "offence": {"article": "9"}, "facts": FACTS + " The command server is rented from ExampleHost SAS "
                "in France, which preserved its logs at Viet Nam's request.",
                "assistance_sought": "Search ExampleHost's systems for the data preserved under "
                                     f"{preserved}, seize them, and disclose them with the account's subscriber "
                                     "record, as a sealed evidence package.",
                "procedure": "Records certified by the provider; chain of custody kept by the node.",
                "persons": "Holder of the ExampleHost account 'k.volkov' (identity unknown; suspect).",
                "purpose": "Evidence for the prosecution of the Bach Mai hospital ransomware case in Hanoi.",
                "measures": ["search", "seizure", "disclosure"],
                "data": "Connection and access logs of server 203.0.113.7 from 2026-11-22 00:00 UTC, and the "
                        "subscriber record of the account that rents it.",
                "custodian": "ExampleHost SAS, Roubaix (AS64500)", "preservation_ref": preserved,
                "time_zone": "Asia/Ho_Chi_Minh", "court_reference": "VKS-HN 117/2026"}})
        ref = self.refs["mla-fra"] = created["ref"]
        self.readers[ref] = {"VNM": "ha", "FRA": "elise"}
        self.say("VNM", f"Ha sends {ref} ({created['kind_title']}) to FRA/CA, naming preservation {preserved}")
        self.act("VNM", "lan", preserved, "follow_up", mla_ref=ref)
        self.say("VNM", f"Lan marks {preserved} followed up by {ref}: the data stay preserved until it is decided")
        self.check(self.wait_state("FRA", "elise", ref, "received"), f"{ref} received by France's central authority")
        linked = {f["name"]: f["value"] for f in self.request("FRA", "elise", ref)["fields"]}.get("preservation_ref")
        self.check(linked == preserved, f"France sees the link to preservation {preserved}")
        self.act("FRA", "elise", ref, "acknowledge")
        question = ("The request names no court order for the search. Please give the date and number of the "
                    "order, and the ExampleHost account identifier.")
        self.act("FRA", "elise", ref, "clarify", question=question)
        self.say("FRA", "Elise acknowledges and asks for what is missing: the court order and the account")
        self.check(self.wait_state("VNM", "ha", ref, "clarification_requested"), "Viet Nam sees France's question")
        self.act("VNM", "ha", ref, "answer", answer="Order no. 117/QD-VKS of the People's Procuracy of Hanoi, "
                 "2026-11-23; ExampleHost customer EH-448812, login 'k.volkov'.")
        self.check(self.wait_state("FRA", "elise", ref, "clarification_answered"), "France holds the answer")
        self.say("VNM", "Ha answers; France goes on")
        case_files = {"examplehost-203.0.113.7-connections.log": _connection_log(),
                      "examplehost-EH-448812-subscriber.txt": b"customer: EH-448812\nlogin: k.volkov\n"
                      b"registered: 2026-10-02T08:14:00Z\npayment: prepaid card\nservers: 203.0.113.7\n"}
        for name, data in case_files.items():
            self._upload("FRA", "elise", FRA_CASE, name, data)
        self.act("FRA", "elise", ref, "execute", result={
            "measures_taken": ["search", "seizure", "disclosure"], "provider": "ExampleHost SAS",
            "data_obtained": f"The preserved connection logs and the subscriber record of EH-448812, sent as an "
                             f"evidence package for {ref}."})
        self.check(self.wait_state("VNM", "ha", ref, "executed"), f"{ref} executed; both sides agree")
        purpose = f"Evidence answering {ref}, for the investigation of case VNM-HN-2026-0117 only"
        offered = self.call("FRA", "elise", "POST", "/api/v1/evidence/offers", json={
            "case": FRA_CASE, "to": "VNM/CA", "wait_witnesses": 20, "min_witnesses": 1, "purpose": purpose,
            "conditions": ["Not to be disclosed to the public before trial"]})
        package = offered["package"]
        self.say("FRA", f"Elise seals {len(case_files)} files into package {package} for {ref}, offered to VNM/CA")
        report = self._pull_and_verify("VNM", "ha", package)
        self.check(report.ok, "Viet Nam pulls France's package and it verifies offline")
        conditions = report.package.get("use_conditions") or {}
        self.check(conditions.get("purpose") == purpose, f"its use conditions name the request: {purpose}")
        received = self.call("VNM", "ha", "GET", "/api/v1/evidence", params={"case": FRA_CASE})
        self.check(len(received) == len(case_files) and all(
            i["received"] and ref in i["received"]["purpose"] for i in received),
            f"Viet Nam holds {len(received)} files, each limited to the purpose of {ref}")
        shown = self.request("VNM", "ha", ref)
        asked = [e["what"] for e in shown["timeline"] if e["what"] in ("clarify", "answer")]
        return {"request": ref, "state": shown["state"], "preservation": preserved,
                "clarified": asked == ["clarify", "answer"], "package": package, "files": len(received),
                "package_verified": report.ok, "purpose_names_request": conditions.get("purpose") == purpose}

    def onward_transfer(self, mla: dict[str, Any]) -> dict[str, Any]:
        """Viet Nam wants France's evidence to reach Brazil: refused until France consents (Art. 36, 40)."""
        self.step("11. Sending France's evidence on to Brazil needs consent (Art. 36)")
        files = [i["id"] for i in self.call("VNM", "ha", "GET", "/api/v1/evidence", params={"case": FRA_CASE})]
        offer = {"case": FRA_CASE, "to": "BRA/CA", "wait_witnesses": 20, "min_witnesses": 1,
                 "purpose": f"Evidence received from France for {mla['request']}, sent on with France's consent "
                            "for Brazil's investigation of the NuvemHost server 198.51.100.23",
                 "conditions": ["Not to be disclosed to the public before trial"]}
        refused = self.attempt("VNM", "ha", "POST", "/api/v1/evidence/offers", json=offer)
        problem = refused.json() if refused.status_code == 403 else {}
        blocked = problem.get("code") == "consent_required"
        self.check(blocked, f"Ha's offer to BRA/CA is refused: {problem.get('code', refused.status_code)}")
        if problem:
            self.say("VNM", f"the node says: {problem.get('detail')}")
        asked = self.call("VNM", "ha", "POST", "/api/v1/evidence/consents", json={
            "files": files, "use": "transfer", "target": "BRA",
            "reason": "Brazil investigates the NuvemHost server that administered the command server; the "
                      "ExampleHost logs show its sessions."})
        request = asked["request"]
        self.say("VNM", f"Ha asks {asked['to']} for consent {request} to send {len(files)} files to BRA")

        def consent(state: str, who: str) -> dict[str, Any] | None:
            return next((c for c in self.call(state, who, "GET", "/api/v1/evidence/consents")
                         if c["request"] == request), None)
        arrived = self.net.wait_until(lambda: consent("FRA", "elise") is not None, timeout=30)
        self.check(arrived, f"France's central authority sees consent request {request}")
        self.call("FRA", "elise", "POST", f"/api/v1/evidence/consents/{request}/answer", json={
            "granted": True, "reason": "Brazil's investigation concerns the same attack.",
            "conditions": ["For Brazil's criminal investigation of the same attack only"]})
        self.say("FRA", "Elise grants it, for Brazil's investigation of the same attack only")
        granted = self.net.wait_until(lambda: (consent("VNM", "ha") or {}).get("status") == "granted", timeout=30)
        self.check(granted, "Viet Nam's node records France's consent")
        package = self.call("VNM", "ha", "POST", "/api/v1/evidence/offers", json=offer)["package"]
        self.say("VNM", f"Ha sends the files on to BRA/CA as package {package}")
        delivered = self.net.wait_until(lambda: any(
            o["package"] == package and o["status"] == "complete"
            for o in self.call("BRA", "beatriz", "GET", "/api/v1/evidence/offers")), timeout=60)
        self.check(delivered, "Brazil's node pulled every file of the package")
        held = [i for i in self.call("BRA", "beatriz", "GET", "/api/v1/evidence") if i["received"]
                and i["received"]["package"] == package]
        self.check(len(held) == len(files), f"Brazil holds the {len(held)} files, received from VNM/CA")
        return {"refused_before_consent": blocked, "refusal": problem.get("code"), "consent_request": request,
                "consent": "granted" if granted else "not granted", "package": package,
                "delivered_to_BRA": delivered and len(held) == len(files)}

    def post_public(self, state: str, path: str, body: dict[str, Any]) -> Any:
        """A call without a token, as the victims' page makes it."""
        answer = httpx.post(self.net.members[state].url + path, json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def call_platform(self, state: str, method: str, path: str, **kwargs: Any) -> Any:
        """A call with the platform's token."""
        return self.net.api(state, self.tokens["platform"], method, path, **kwargs)

    def custody(self) -> int:
        """Every node's custody log covers what it sent and received, and one record proves itself offline."""
        self.step("12. Custody logs: every envelope and file, under signed checkpoints")
        admins = {"VNM": "vnm-admin", "FRA": "fra-admin", "BRA": "bra-admin"}
        total = 0
        for state, who in admins.items():
            moved = len(self.call(state, who, "GET", "/api/v1/messages", params={"limit": 1000}))
            self.net.wait_until(lambda s=state, w=who, n=moved: self._logged(s, w) >= n
                                and self.call(s, w, "GET", "/api/v1/ledger")["queued"] == 0, timeout=30)
            status = self.call(state, who, "GET", "/api/v1/ledger")
            size = status["checkpoint"]["size"] if status["checkpoint"] else 0
            self.check(size >= moved, f"{state}: checkpoint at size {size} covers its {moved} envelopes")
            key = httpx.get(f"{self.net.members[state].url}/federation/v1/ledger/key", timeout=10).text.strip()
            bundle = self.call(state, who, "GET", "/api/v1/ledger/entries/0")
            verified = verify_bundle(bundle, [key])
            self.say(state, f"custody entry 0 ({verified.event.action if verified.event else 'redacted'}) "
                            f"proved against checkpoint {verified.checkpoint.size} of {verified.checkpoint.origin}")
            total += size
        others = set(admins)
        for state, who in admins.items():
            wanted = {f"hanoinet/{o}/witness" for o in others - {state}}
            cosigned = self.net.wait_until(
                lambda s=state, w=who, n=wanted: n <= set(self.call(s, w, "GET", "/api/v1/ledger")["cosigned_by"]),
                timeout=30)
            self.check(cosigned, f"{state}'s newest checkpoint is cosigned by the two other States' witnesses")
        return total

    def _logged(self, state: str, who: str) -> int:
        checkpoint = self.call(state, who, "GET", "/api/v1/ledger")["checkpoint"]
        return int(checkpoint["size"]) if checkpoint else 0

    def _post(self, state: str, body: bytes) -> httpx.Response:
        return httpx.post(f"{self.net.members[state].url}/federation/v1/envelopes", content=body,
                          headers={"content-type": "application/jose"}, timeout=10)

    def summary(self) -> dict[str, Any]:
        """Counts over every node, once every envelope has been delivered; checks nothing was lost."""
        admins = {"VNM": "vnm-admin", "FRA": "fra-admin", "BRA": "bra-admin"}

        def box(direction: str) -> list[dict[str, Any]]:
            return [m for state, who in admins.items() for m in self.call(
                state, who, "GET", "/api/v1/messages", params={"direction": direction, "limit": 1000})]
        self.net.wait_until(lambda: all(m["status"] == "delivered" for m in box("out")), timeout=30)
        sent = box("out")
        held = {m["message_id"] for m in box("in")}
        delivered = [m for m in sent if m["status"] == "delivered"]
        receipts = sum(1 for m in delivered if self.call(m["from"][:3], admins[m["from"][:3]], "GET",
                                                          f"/api/v1/messages/{m['message_id']}")["receipt"])
        lost = [m["message_id"] for m in sent if m["message_id"] not in held]
        final: dict[str, int] = {}
        for ref in self.refs.values():
            state = self.request("VNM", self._reader("VNM", ref), ref)["state"]
            final[state] = final.get(state, 0) + 1
        agreed = all(self._history("VNM", self._reader("VNM", ref), ref) == self._history(*self._peer(ref), ref)
                     for ref in self.refs.values())
        self.check(agreed, "both nodes of every request hold the same history, event for event")
        self.check(not lost, f"every envelope sent is in its recipient's inbox ({len(held)} held)")
        return {"states": sorted(self.net.members), "envelopes_sent": len(sent), "envelopes_delivered": len(delivered),
                "receipts": receipts, "alerts": len(self.mail.messages), "requests": dict(sorted(final.items())),
                "lost": len(lost), "checks_failed": len(self.failures)}

    def _reader(self, state: str, ref: str) -> str:
        """The officer who reads ``ref`` on ``state``'s node: its desk's."""
        return self.readers.get(ref, {}).get(state) or {"VNM": "lan", "FRA": "camille", "BRA": "joao"}[state]

    def _peer(self, ref: str) -> tuple[str, str]:
        to = self.request("VNM", self._reader("VNM", ref), ref)["requested"].split("/")[0]
        return to, self._reader(to, ref)

    def _history(self, state: str, who: str, ref: str) -> list[tuple[Any, ...]]:
        return [(e["what"], e["side"], e.get("seq"), e["at"], e["applied"], e["state"])
                for e in self.request(state, who, ref)["timeline"] if "seq" in e or e["what"] == "received"]

    def keep(self) -> None:
        """Print each node's URL and tokens, and keep the nodes running until the demo is stopped."""
        self.step("The nodes keep running")
        for state, member in self.net.members.items():
            self.console.print(f"{state} node: {member.url}")
            for who, token in self.tokens.items():
                if self.holders.get(who, "").startswith(f"{state},"):
                    self.console.print(f"  {who}: {self.holders[who]}")
                    self.console.print(f"    HANOINET_TOKEN={token}")
        fra = self.net.members["FRA"].url
        self.console.print("Try, in another terminal (each command is one line):")
        self.console.print(f"  HANOINET_NODE={fra} HANOINET_TOKEN={self.tokens['camille']} {program()} request list")
        self.console.print(f"  HANOINET_NODE={fra} HANOINET_TOKEN={self.tokens['camille']} {program()} whoami")
        if "preservation-fra" in self.refs:
            self.console.print(f"  HANOINET_NODE={self.net.members['VNM'].url} HANOINET_TOKEN={self.tokens['lan']} "
                               f"{program()} request show {self.refs['preservation-fra']} --reason '{READ}'")
        if "mla-fra" in self.refs:
            self.console.print(f"  HANOINET_NODE={fra} HANOINET_TOKEN={self.tokens['elise']} "
                               f"{program()} request show {self.refs['mla-fra']} --reason '{READ}'")
        self.console.print(f"The victims' page: {self.net.members['VNM'].url}/victims/ (in a browser on this machine)")
        self.console.print("The nodes keep running; press Ctrl-C (or send SIGTERM) to stop them.")
        while True:
            time.sleep(3600)

    def close(self) -> None:
        """Stop every process and the mail sink."""
        self.net.stop_all()
        self.mail.stop()


def _photo(seed: int) -> bytes:
    """A JPEG standing for one of the victim's photographs: smooth shapes and texture, as PDQ needs to be sure."""
    generator = random.Random(seed)  # noqa: S311 - the same picture every run, not a secret
    image = Image.new("RGB", (640, 480), (generator.randrange(256), generator.randrange(256), 90))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = generator.randrange(640), generator.randrange(480)
        radius = generator.randrange(20, 120)
        colour = (generator.randrange(256), generator.randrange(256), generator.randrange(256))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    out = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(3)).save(out, "JPEG", quality=92)
    return out.getvalue()


def _reencoded(data: bytes) -> bytes:
    """The copy a platform receives: resized and re-compressed, so its hash is near, not equal."""
    image = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    image.resize((480, 360)).save(out, "JPEG", quality=70)
    return out.getvalue()


def _connection_log() -> bytes:
    lines = [f"2026-11-22T23:{41 + i // 60:02d}:{i % 60:02d}Z 198.51.100.23:{40000 + i} -> 203.0.113.7:22 tcp "
             f"{1200 + 37 * i} bytes" for i in range(1000)]
    return ("\n".join(lines) + "\n").encode("ascii")


class Stopped(Exception):
    """A signal asked the demo to stop (SIGTERM, SIGHUP), as Ctrl-C does with SIGINT."""


def _stop(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the demo by an exception, like Ctrl-C, so that it stops its processes first.

    Python's default for both is to exit at once, which would leave the nodes and the directory server running.
    Handlers can only be set in the main thread; elsewhere (a test's thread) the defaults stay.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(root: Path, *, keep: bool = False, as_json: bool = False, console: Console | None = None) -> int:
    """Play the whole scenario in ``root`` (wiped first); returns 0 only if every check held.

    However it ends (the scenario done, a failure, an exception, Ctrl-C, SIGTERM or SIGHUP) it stops every
    process it started; if it is killed outright, the kernel stops them (:func:`~hanoinet.demo.network.child_command`).
    """
    # Soft wrap: a long line is never cut by a newline, so URLs, tokens, paths and commands copy whole.
    console = console or Console(highlight=False, soft_wrap=True)
    with _stopped_by_signals():
        return _play(root, keep=keep, as_json=as_json, console=console)


def _play(root: Path, *, keep: bool, as_json: bool, console: Console) -> int:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    demo = Demo(root.resolve(), console, quiet=as_json)
    outcome: dict[str, Any] = {}
    try:
        demo.setup()
        demo.preservation_in_france()
        demo.traffic_data_across_a_restart()
        demo.preservation_in_brazil()
        demo.emergency()
        demo.refused_and_withdrawn()
        demo.attacks()
        evidence = demo.evidence()
        victim = demo.victim()
        mla = demo.mutual_legal_assistance()
        onward = demo.onward_transfer(mla)
        custody = demo.custody()
        demo.step("13. Summary")
        outcome = {**demo.summary(), "custody_entries": custody, "evidence": evidence, "victim": victim,
                   "mla": mla, "onward_transfer": onward}
        if not as_json:
            console.print(f"Node data and logs are in {root}/")
            if not keep:
                console.print("The nodes stop now. To look around as an officer would, play it again and keep "
                              "them running; it prints their URLs and tokens:")
                console.print(f"  {program()} demo --keep")
        if keep:
            print(json.dumps({**outcome, "checks_failed": len(demo.failures), "ok": not demo.failures},
                             sort_keys=True), flush=True)
            demo.keep()
    except (KeyboardInterrupt, Stopped):
        if not as_json:
            console.print("Stopping the nodes and the directory server.")
    except (httpx.HTTPError, RuntimeError, KeyError, StopIteration) as exc:
        demo.failures.append(f"the scenario stopped: {type(exc).__name__}: {exc}")
        console.print(f"[red bold]the scenario stopped:[/] {exc}")
    finally:
        demo.close()
    outcome = {**outcome, "checks_failed": len(demo.failures), "ok": not demo.failures}
    print(json.dumps(outcome, sort_keys=True), flush=True)
    return 0 if not demo.failures and outcome.get("lost") == 0 else 1
