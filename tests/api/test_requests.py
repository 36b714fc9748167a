"""``/api/v1/requests`` and ``/api/v1/convention`` through the HTTP app, between two in-process nodes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import OutboxMessage
from hanoinet.node.node import Node
from tests.convention.drafts import REQUESTS
from tests.requests.support import EMERGENCY, Officers, move_clock, preservation_result, token, two_nodes
from tests.requests.test_service import PRESERVATION, pump, shared
from tests.support import READ, auth


class Net:
    """Both nodes, an API client of each, and their officers' tokens."""

    def __init__(self, nodes: dict[str, Node], officers: Officers, vnm: TestClient, fra: TestClient) -> None:
        self.nodes = nodes
        self.officers = officers
        self.vnm = vnm
        self.fra = fra

    def create(self, fields: dict[str, Any] | None = None, **body: Any) -> Response:
        """Viet Nam's duty officer makes a request to France's 24/7 desk."""
        document = {"kind": "preservation", "to": "FRA/247", "fields": PRESERVATION if fields is None else fields,
                    "case": "VNM-2026-0117", **body}
        response: Response = self.vnm.post("/api/v1/requests", json=document, headers=auth(self.officers.lan))
        return response

    def sent(self, fields: dict[str, Any] | None = None, **body: Any) -> str:
        """Make a request, deliver it to France, and return its reference."""
        response = self.create(fields, **body)
        assert response.status_code == 201, response.text
        assert pump(self.nodes) >= 1
        ref: str = response.json()["ref"]
        return ref

    def at_fra(self, ref: str, action: str, token: str | None = None, **body: Any) -> Response:
        """France acts on a request (Camille, unless another token is given)."""
        response: Response = self.fra.post(f"/api/v1/requests/{ref}/{action}", json=body,
                                           headers=auth(token or self.officers.camille))
        return response

    def show(self, ref: str, *, fra: bool = True, token: str | None = None) -> dict[str, Any]:
        client, default = (self.fra, self.officers.camille) if fra else (self.vnm, self.officers.lan)
        response = client.get(f"/api/v1/requests/{ref}", params=READ, headers=auth(token or default))
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def listed(self, token: str | None = None, **params: Any) -> list[str]:
        response = self.fra.get("/api/v1/requests", params=params, headers=auth(token or self.officers.camille))
        assert response.status_code == 200, response.text
        return [r["ref"] for r in response.json()]


@pytest.fixture
def net(tmp_path: Path, authority: KeyPair) -> Iterator[Net]:
    nodes, officers = two_nodes(tmp_path, authority)
    with TestClient(create_app(nodes["VNM"], background=False)) as vnm, \
            TestClient(create_app(nodes["FRA"], background=False)) as fra:
        yield Net(nodes, officers, vnm, fra)


def outbox(node: Node) -> list[OutboxMessage]:
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def is_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.headers["content-type"]) == (status, "application/problem+json"), \
        response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_a_request_is_created_and_sent_at_once(net: Net) -> None:
    response = net.create()
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["ref"] == f"VNM-{now().year:04d}-0001"
    assert (made["state"], made["side"], made["requesting"], made["requested"]) == (
        "sent", "requesting", "VNM/247", "FRA/247")
    assert (made["priority"], made["case"], made["article"]) == ("urgent", "VNM-2026-0117", "42")
    [queued] = outbox(net.nodes["VNM"])
    assert (queued.recipient, queued.kind, queued.status) == ("FRA/247", "request.event", "pending")
    assert pump(net.nodes) == 1
    assert net.show(made["ref"])["state"] == "received"


def test_an_incomplete_draft_lists_every_problem_and_nothing_is_queued(net: Net) -> None:
    fields = {k: v for k, v in PRESERVATION.items() if k not in ("facts", "necessity")}
    body = is_problem(net.create(fields), 422, "invalid")
    assert body["detail"].startswith("2 problems:")
    assert [(p["field"], p["article"]) for p in body["problems"]] == [("facts", "42(b)"), ("necessity", "42(e)")]
    assert all(p["message"] and p["fix"] for p in body["problems"])
    assert outbox(net.nodes["VNM"]) == []
    assert net.vnm.get("/api/v1/requests", headers=auth(net.officers.lan)).json() == []


@pytest.mark.parametrize(("change", "words"), [
    ({"to": "BRA/247"}, "BRA is not in the directory"),
    ({"to": "FRA/XYZ"}, "FRA has no desk 'XYZ'"),
    ({"to": "VNM/247"}, "goes to another State"),
    ({"kind": "wiretap"}, "unknown request kind 'wiretap'"),
    ({"desk": "CA"}, "cannot act for desk CA"),
])
def test_a_request_nobody_can_receive_is_refused_before_sending(net: Net, change: dict[str, Any],
                                                               words: str) -> None:
    response = net.create(**change)
    assert 400 <= response.status_code < 500 and words in response.json()["detail"], response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert outbox(net.nodes["VNM"]) == []


def test_a_draft_is_kept_until_it_is_sent(net: Net) -> None:
    response = net.create(send=False)
    assert response.status_code == 201, response.text
    draft = response.json()
    assert (draft["state"], draft["allowed"], draft["sent_at"]) == ("draft", ["send"], None)
    assert outbox(net.nodes["VNM"]) == [] and pump(net.nodes) == 0
    sent = net.vnm.post(f"/api/v1/requests/{draft['ref']}/send", json={"version": draft["version"]},
                        headers=auth(net.officers.lan))
    assert sent.status_code == 200, sent.text
    assert (sent.json()["state"], sent.json()["allowed"]) == ("sent", ["withdraw"])
    assert pump(net.nodes) == 1
    assert net.show(draft["ref"])["state"] == "received"


def test_a_draft_is_changed_whole_with_put_and_a_sent_request_is_not(net: Net) -> None:
    draft = net.create(send=False).json()
    ref, lan = draft["ref"], auth(net.officers.lan)
    fields = {**PRESERVATION, "necessity": "Logs rotate every 24 hours."}
    body = {"kind": "preservation", "to": "FRA/247", "fields": fields, "case": "VNM-2026-0117",
            "version": draft["version"]}
    changed = net.vnm.put(f"/api/v1/requests/{ref}", json=body, headers=lan)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == draft["version"] + 1 and changed.json()["state"] == "draft"
    assert next(f["value"] for f in changed.json()["fields"] if f["name"] == "necessity") == fields["necessity"]
    is_problem(net.vnm.put(f"/api/v1/requests/{ref}", json=body, headers=lan), 409, "request_changed")
    problems = is_problem(net.vnm.put(f"/api/v1/requests/{ref}", headers=lan, json={
        **body, "version": None, "fields": {k: v for k, v in fields.items() if k != "facts"}}), 422, "invalid")
    assert [p["field"] for p in problems["problems"]] == ["facts"]
    is_problem(net.vnm.put(f"/api/v1/requests/{ref}", json={**body, "send": True}, headers=lan), 422, "invalid")
    # Admins run the node and never write requests.
    is_problem(net.vnm.put(f"/api/v1/requests/{ref}", json={**body, "version": None},
                           headers=auth(net.officers.vnm_admin)), 403, "forbidden")
    assert outbox(net.nodes["VNM"]) == []
    sent = net.vnm.post(f"/api/v1/requests/{ref}/send", json={}, headers=lan)
    assert sent.status_code == 200, sent.text
    is_problem(net.vnm.put(f"/api/v1/requests/{ref}", json={**body, "version": None}, headers=lan), 409,
               "not_a_draft")


def test_lists_filter_by_state_kind_and_overdue(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    preservation = net.sent()
    emergency = net.sent(EMERGENCY, kind="emergency_disclosure")
    assert net.listed() == [emergency, preservation]
    assert net.listed(kind="emergency_disclosure") == [emergency]
    assert net.listed(state="received") == [emergency, preservation]
    assert net.at_fra(preservation, "acknowledge").status_code == 200
    assert net.listed(state="acknowledged") == [preservation]
    assert net.listed(overdue=True) == []
    # Two hours on: the emergency (one hour to acknowledge) is overdue; the acknowledged one cannot be.
    move_clock(monkeypatch, timedelta(hours=2))
    assert net.listed(overdue=True) == [emergency]
    rows = net.fra.get("/api/v1/requests", headers=auth(net.officers.camille)).json()
    assert {r["ref"]: r["overdue"] for r in rows} == {emergency: True, preservation: False}
    assert {r["ref"]: r["priority"] for r in rows} == {emergency: "emergency", preservation: "urgent"}


def test_other_desks_see_nothing_and_supervisors_read_without_acting(net: Net) -> None:
    ref = net.sent()
    lawyer, chief = net.officers.lawyer, net.officers.chief
    assert net.listed(lawyer) == []
    hidden = is_problem(net.fra.get(f"/api/v1/requests/{ref}", params=READ, headers=auth(lawyer)), 404, "not_found")
    # Another desk's request and one that does not exist answer alike: references cannot be enumerated.
    missing = ref[:-4] + ("9999" if not ref.endswith("9999") else "9998")
    absent = is_problem(net.fra.get(f"/api/v1/requests/{missing}", params=READ, headers=auth(lawyer)), 404, "not_found")
    assert hidden["detail"].replace(ref, missing) == absent["detail"] and hidden.get("hint") == absent.get("hint")
    by_id = net.show(ref)["id"]
    by_id_refused = is_problem(net.fra.get(f"/api/v1/requests/{by_id}", params=READ, headers=auth(lawyer)), 404,
                               "not_found")
    assert ref not in by_id_refused["detail"]
    is_problem(net.at_fra(ref, "acknowledge", lawyer), 404, "not_found")
    assert net.listed(chief) == [ref]
    assert net.show(ref, token=chief)["allowed"] == []  # a supervisor of another desk reads only
    refused = is_problem(net.at_fra(ref, "start", chief), 403, "forbidden")
    assert "supervisor" in refused["detail"]
    assert net.show(ref)["state"] == "received"
    asking = {"kind": "preservation", "to": "VNM/247", "fields": PRESERVATION}
    is_problem(net.fra.post("/api/v1/requests", json=asking, headers=auth(chief)), 403, "forbidden")
    assert outbox(net.nodes["FRA"]) == []


def test_a_request_shows_its_fields_articles_timeline_clocks_and_next_actions(net: Net) -> None:
    ref = net.sent()
    view = net.show(ref)
    assert (view["side"], view["state"], view["confidential"], view["do_not_notify"]) == (
        "requested", "received", True, True)
    fields = {f["name"]: (f["label"], f["article"], f["value"]) for f in view["fields"]}
    assert fields["requesting_authority"] == ("Requesting authority", "42(a)", PRESERVATION["requesting_authority"])
    assert fields["necessity"][1] == "42(e)" and fields["mla_to_follow"][1:] == ("42(f)", True)
    assert fields["offence"] == ("Offence", "42(b)", {"article": "10"})
    assert [(e["what"], e["party"]) for e in view["timeline"] if "seq" in e or e["what"] == "received"] == [
        ("send", "VNM/247"), ("received", "FRA/247")]
    ack = next(c for c in view["clocks"] if c["name"] == "acknowledgement")
    assert (ack["status"], ack["due"]) == ("running", view["ack_due_at"])
    assert 0 < ack["remaining_seconds"] <= 4 * 3600
    assert view["allowed"] == ["acknowledge", "refuse", "notice"]
    assert net.show(ref, fra=False)["allowed"] == ["withdraw"]
    missing = net.fra.get("/api/v1/requests/VNM-2026-9999", params=READ, headers=auth(net.officers.camille))
    assert "no request 'VNM-2026-9999'" in is_problem(missing, 404, "not_found")["detail"]


def test_the_full_round_trip_leaves_both_states_agreeing(net: Net) -> None:
    ref = net.sent()
    assert net.at_fra(ref, "acknowledge", note="read by the duty officer").json()["state"] == "acknowledged"
    assert net.at_fra(ref, "start", note="provider contacted").json()["state"] == "in_progress"
    preserved = format_instant(now())
    executed = net.at_fra(ref, "execute", result=preservation_result(preserved))
    assert executed.status_code == 200, executed.text
    assert executed.json()["state"] == "executed"
    assert pump(net.nodes) == 3
    ours, theirs = net.show(ref, fra=False), net.show(ref)
    assert ours["state"] == theirs["state"] == "executed"
    assert shared(ours) == shared(theirs)
    assert [e["what"] for e in ours["timeline"] if "seq" in e] == ["send", "acknowledge", "start", "execute"]
    assert ours["result"] == preservation_result(preserved)
    clock = next(c for c in ours["clocks"] if c["name"] == "preservation")
    assert (clock["status"], clock["article"]) == ("running", "42")


def test_an_illegal_action_names_the_state_and_what_is_allowed(net: Net) -> None:
    ref = net.sent()
    body = is_problem(net.at_fra(ref, "execute", result=preservation_result(format_instant(now()))), 409,
                      "illegal_transition")
    assert "current state: received" in body["detail"]
    assert body["hint"] == "allowed now for the requested State: acknowledge, refuse, notice"
    own = net.vnm.post(f"/api/v1/requests/{ref}/acknowledge", json={}, headers=auth(net.officers.lan))
    assert "only the requested State" in is_problem(own, 409, "illegal_transition")["detail"]
    assert net.show(ref)["state"] == "received"


def test_acting_on_a_stale_version_is_refused(net: Net) -> None:
    ref = net.sent()
    seen = net.show(ref)["version"]
    assert net.at_fra(ref, "acknowledge", version=seen).status_code == 200
    stale = net.at_fra(ref, "refuse", version=seen, ground="prejudice_sovereignty", reasons="State body.")
    body = is_problem(stale, 409, "request_changed")
    assert f"you acted on version {seen}" in body["detail"] and "hanoinet request show" in body["hint"]
    assert net.show(ref)["state"] == "acknowledged"


@pytest.mark.parametrize(("action", "words"), [("frobnicate", "action"), ("expire", "expires by itself")])
def test_an_action_that_does_not_exist_for_officers_is_invalid(net: Net, action: str, words: str) -> None:
    ref = net.sent()
    body = is_problem(net.at_fra(ref, action), 422, "invalid")
    assert words in body["detail"]


def test_a_refusal_needs_reasons_and_a_real_ground(net: Net) -> None:
    ref = net.sent()
    net.at_fra(ref, "acknowledge")
    no_reasons = is_problem(net.at_fra(ref, "refuse", ground="prejudice_sovereignty"), 422, "invalid")
    assert [(p["field"], p["article"]) for p in no_reasons["problems"]] == [("reasons", "35, 40")]
    not_a_ground = is_problem(net.at_fra(ref, "refuse", ground="fiscal_matters", reasons=" "), 422, "invalid")
    assert {p["field"] for p in not_a_ground["problems"]} == {"ground", "reasons"}
    assert net.show(ref)["state"] == "acknowledged"
    refused = net.at_fra(ref, "refuse", ground="prejudice_sovereignty", reasons="The server is a State body's.")
    assert refused.json()["state"] == "refused"
    pump(net.nodes)
    ours = net.show(ref, fra=False)
    assert ours["state"] == "refused"
    assert ours["refusal"] == {"ground": "prejudice_sovereignty", "reasons": "The server is a State body's."}


def test_the_convention_lists_kinds_grounds_and_offences_with_articles(net: Net) -> None:
    assert net.vnm.get("/api/v1/convention").status_code == 401
    catalogue = net.vnm.get("/api/v1/convention", headers=auth(net.officers.lan)).json()
    assert set(catalogue["kinds"]) == {"preservation", "traffic_disclosure", "emergency_disclosure",
                                       "location_query", "stored_data", "real_time_traffic", "interception",
                                       "general_assistance", "law_enforcement", "joint_investigation",
                                       "spontaneous_information"}
    stored = catalogue["kinds"]["stored_data"]
    assert stored["desks"] == ["CA"] and stored["article"] == "44"
    link = next(f for f in stored["fields"] if f["name"] == "preservation_ref")
    assert link["article"] == "42, 44" and link["format"]["pattern"] == "^[A-Z]{3}-[0-9]{4}-[0-9]{4,8}$"
    deadline = next(f for f in stored["fields"] if f["name"] == "deadline")
    assert deadline["needs"] == "deadline_reason" and deadline["article"] == "40"
    assert catalogue["kinds"]["preservation"]["desks"] == []
    preservation = catalogue["kinds"]["preservation"]
    assert preservation["article"] == "42" and preservation["default_priority"] == "urgent"
    assert {f["name"]: f["article"] for f in preservation["fields"]}["necessity"] == "42(e)"
    assert catalogue["grounds"]["prejudice_sovereignty"]["article"] == "40, 42"
    assert "fiscal_matters" not in catalogue["grounds"] and "fiscal_matters" in catalogue["not_grounds"]
    assert catalogue["offences"]["10"]["article"] == "10"
    assert {str(n) for n in range(7, 18)} <= set(catalogue["offences"])  # Art. 7-17


def test_reading_a_request_is_on_the_audit_trail(net: Net) -> None:
    ref = net.sent()
    admin = auth(net.officers.fra_admin)

    def views() -> list[tuple[str, str]]:
        trail = net.fra.get("/api/v1/audit", headers=admin).json()
        return [(e["actor"], e["target"]) for e in trail if e["action"] == "request.view"]

    assert views() == []
    net.listed()
    assert views() == []  # a list shows no personal data
    me = net.fra.get("/api/v1/me", headers=auth(net.officers.camille)).json()
    net.show(ref)
    assert views() == [(f"officer:{me['id']}", ref)]
    assert net.fra.get("/api/v1/audit", headers=auth(net.officers.camille)).status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/requests/%00", "/api/v1/requests?state=nonsense",
                                  "/api/v1/requests?kind=a%00", "/api/v1/requests?desk=%00",
                                  "/api/v1/requests/VNM-2026-0001%00/acknowledge"])
def test_malformed_references_and_filters_are_refused_not_crashed(net: Net, path: str) -> None:
    method = "POST" if path.endswith("acknowledge") else "GET"
    answer = net.fra.request(method, path, headers=auth(net.officers.camille), json={})
    assert answer.status_code == 422, answer.text
    # A NUL is refused by the one text rule of every input (hanoinet.text), before the route's own pattern.
    assert answer.json()["code"] == ("invalid" if "nonsense" in path else "invalid_text")


def test_an_officer_types_preserved_at_with_any_offset_and_both_states_store_it_in_utc(net: Net) -> None:
    ref = net.sent()
    assert net.at_fra(ref, "acknowledge").status_code == 200
    t = now().replace(microsecond=0) + timedelta(seconds=1)  # within the request's life, and whole seconds
    paris = t.astimezone(timezone(timedelta(hours=1)))
    typed = paris.strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"  # as read off a clock in Paris in winter
    executed = net.at_fra(ref, "execute", result=preservation_result(typed))
    assert executed.status_code == 200, executed.text
    assert executed.json()["result"]["preserved_at"] == format_instant(t)
    assert pump(net.nodes) >= 1
    assert net.show(ref, fra=False)["result"]["preserved_at"] == format_instant(t)  # what travelled: the UTC form


def test_a_preserved_at_without_offset_is_refused_naming_the_field(net: Net) -> None:
    ref = net.sent()
    assert net.at_fra(ref, "acknowledge").status_code == 200
    body = is_problem(net.at_fra(ref, "execute", result=preservation_result("2026-12-07 22:10")), 422, "invalid")
    assert body["problems"][0]["field"] == "preserved_at"
    assert "2026-11-23T04:00:00+01:00" in body["problems"][0]["fix"]


def test_mla_requests_go_between_central_authorities_and_are_checked_before_sending(net: Net) -> None:
    lawyer = token(net.nodes["VNM"], "central_authority", desk="CA", name="Tran Thi Mai")
    document = {"kind": "stored_data", "to": "FRA/CA", "fields": REQUESTS["stored_data"]}

    def post(bearer: str, **change: Any) -> Response:
        response: Response = net.vnm.post("/api/v1/requests", json={**document, **change}, headers=auth(bearer))
        return response

    wrong_desk = is_problem(post(lawyer, to="FRA/247"), 422, "invalid")
    assert [(p["field"], p["article"], p["fix"]) for p in wrong_desk["problems"]] == [
        ("to", "40", "Address it to FRA/CA.")]
    from_247 = is_problem(post(net.officers.lan), 422, "invalid")
    assert [(p["field"], p["article"]) for p in from_247["problems"]] == [("desk", "40")]
    language = is_problem(post(lawyer, language="vi"), 422, "invalid")
    assert [(p["field"], p["fix"]) for p in language["problems"]] == [
        ("language", "Write the request in one of: en, fr.")]
    gaps = is_problem(post(lawyer, fields={**REQUESTS["stored_data"], "preservation_ref": "our March request",
                                           "deadline": "2026-06-01T09:00:00+07:00"}), 422, "invalid")
    assert [(p["field"], p["article"]) for p in gaps["problems"]] == [
        ("preservation_ref", "42, 44"), ("deadline_reason", "40")]
    assert outbox(net.nodes["VNM"]) == []
    made = post(lawyer)
    assert made.status_code == 201, made.text
    assert (made.json()["requesting"], made.json()["requested"], made.json()["article"]) == ("VNM/CA", "FRA/CA", "44")
    assert pump(net.nodes) == 1
    assert net.show(made.json()["ref"], token=net.officers.lawyer)["state"] == "received"
