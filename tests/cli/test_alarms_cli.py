"""``hanoinet alarms``: a table an operator reads at 80 columns, ``--json`` for scripts, ``ack`` and ``clear``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from hanoinet import logs
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm
from hanoinet.node import audit
from hanoinet.node.officers import add_officer
from tests.cli.test_cli import invoke
from tests.cli.test_request_cli import serving
from tests.support import make_node, publish


def test_list_acknowledge_and_clear_through_the_command(tmp_path: Path, authority: KeyPair,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(debug=False)  # as the command does: logs apart, on stderr
    vnm = make_node(tmp_path, "VNM", authority)
    publish([vnm], authority)
    with vnm.db.transaction() as uow:
        _, duty = add_officer(uow.session, name="Lan", role="duty_officer", desk="247", desks=vnm.settings.desk_ids)
        _, chief = add_officer(uow.session, name="Minh", role="supervisor", desk="247", desks=vnm.settings.desk_ids)
        audit.alarm(uow.session, code="message_undeliverable", desk="247",
                    message="message 0193 to FRA/247 got no receipt within 2 days [bold]check FRA[/]")
        audit.alarm(uow.session, code="directory_expired", severity="critical",
                    message="directory version 7 expired; the grace period has started: import a new version")
    with vnm.db.transaction(readonly=True) as uow:
        undelivered, expired = sorted(uow.session.scalars(select(Alarm.id)))

    with serving({"VNM": vnm}) as urls:
        def hanoinet(token: str, *args: str) -> tuple[int, str, str]:
            return invoke(monkeypatch, capsys, "alarms", *args, "--node", urls["VNM"], "--token", token)

        code, table, _ = hanoinet(chief)
        assert code == 0 and max(len(line) for line in table.splitlines()) <= 80
        assert "directory_expired critical" in table and "[bold]check FRA[/]" in table, "messages are shown as written"
        assert table.splitlines()[-1] == "2 open"
        _, desk_table, _ = hanoinet(duty)
        assert "message_undeliverable high" in desk_table and "directory" not in desk_table, "the desk sees its own"

        assert hanoinet(duty, "ack", str(undelivered), "--reason", "calling FRA")[:2] \
            == (0, f"alarm {undelivered} (message_undeliverable) acknowledged\n")
        code, _, refused = hanoinet(duty, "clear", str(undelivered), "--reason", "FRA answered")
        assert code == 2 and "may acknowledge an alarm of its desk but not clear it" in refused
        assert "what to do:" in refused and "a supervisor or the node operator clears it" in refused
        code, _, no_reason = hanoinet(chief, "clear", str(expired))
        assert code == 2 and "--reason" in no_reason

        assert hanoinet(chief, "clear", str(expired), "--reason", "version 8 imported")[:2] \
            == (0, f"alarm {expired} (directory_expired) cleared: version 8 imported\n")
        code, table, _ = hanoinet(chief)
        assert "acknowledged" in table and "by Lan" in table and "directory" not in table
        assert table.splitlines()[-1] == "1 acknowledged"

        code, raw, _ = hanoinet(chief, "--json", "--state", "cleared")
        [cleared] = json.loads(raw)
        assert (cleared["id"], cleared["cleared"]["by"]["name"]) == (expired, "Minh")
        assert hanoinet(duty, "--state", "cleared")[1] == "no cleared alarms\n"
        code, _, again = hanoinet(chief, "clear", str(expired), "--reason", "again")
        assert code == 2 and "already cleared by Minh" in again
