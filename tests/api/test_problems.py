"""An unexpected error answers a problem with an error id and logs one line with that id: never the request's
token, query or body, never a traceback's values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hanoinet import logs
from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm
from hanoinet.node import audit
from hanoinet.node.node import Node
from tests.support import auth, make_node, officer_token, publish, reset_logs


@pytest.fixture
def broken(tmp_path: Path, authority: KeyPair) -> Iterator[tuple[Node, int]]:
    """A node with an alarm whose stored detail is not JSON: showing that alarm fails unexpectedly."""
    node = make_node(tmp_path, "VNM", authority, port=8401)
    publish([node], authority)
    with node.db.transaction() as uow:
        audit.alarm(uow.session, code="directory_expired", message="the directory expired")
        alarm_id = max(uow.session.scalars(select(Alarm.id)))
        uow.session.execute(update(Alarm).values(detail="{not json"))
    yield node, alarm_id
    node.close()
    reset_logs()


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_one_line_with_the_id_given_to_the_caller_and_no_secret(
        broken: tuple[Node, int], capsys: pytest.CaptureFixture[str], debug: bool) -> None:
    node, alarm_id = broken
    token = officer_token(node, "admin")
    note = "the body of this request: never logged"
    logs.configure(debug=debug)
    with TestClient(create_app(node, background=False), raise_server_exceptions=False) as client:
        capsys.readouterr()
        answer = client.post(f"/api/v1/alarms/{alarm_id}/acknowledge?token={token}", json={"reason": note},
                             headers=auth(token) | {"cookie": f"session={token}"})
    assert answer.status_code == 500
    problem = answer.json()
    error_id = problem["error_id"]
    assert problem["code"] == "internal" and error_id in problem["detail"] and "operator" in problem["hint"]
    assert len(error_id) == 12 and token not in answer.text

    err = capsys.readouterr().err
    secret_part = token.removeprefix("hnt_")
    assert secret_part not in err and note not in err and "not json" not in err
    line, *rest = err.splitlines()
    assert f"error_id={error_id}" in line and "route=/api/v1/alarms/{alarm_id}/acknowledge" in line
    assert "error_type=json.decoder.JSONDecodeError" in line and "error_via=hanoinet/node/alarms.py:" in line
    if debug:  # frames and code lines, no values
        assert any("hanoinet/node/alarms.py" in r for r in rest) and "JSONDecodeError (its message" in rest[-1]
    else:
        assert rest == []

