"""Generated requests from the node's own OpenAPI document never make it answer with a server error, and every
answer is what the document declares: its content type, and (for errors) the problem document's schema."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance

from hanoinet.api.app import create_app
from hanoinet.api.problems import PROBLEM_MEDIA_TYPE
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.officers import add_officer
from tests.support import make_node, publish


def test_no_server_errors(tmp_path: Path, authority: KeyPair) -> None:
    vnm = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([vnm, fra], authority)
    with vnm.db.transaction() as uow:
        _, token = add_officer(uow.session, name="Fuzz", role="admin", desk="247", desks=vnm.settings.desk_ids)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(vnm, background=False))
    headers = {"authorization": f"Bearer {token}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
            if response.status_code >= 400:
                assert response.headers["content-type"] == [PROBLEM_MEDIA_TYPE], (case.method, case.path)
                documented = {int(s) for s in case.operation.definition.raw["responses"] if s.isdigit()}
                assert response.status_code in documented, (case.method, case.path, response.status_code,
                                                            response.text[:300])
            case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])

        no_server_error()
        checked.append(operation.label)
    assert "POST /api/v1/messages" in checked and "POST /federation/v1/envelopes" in checked
