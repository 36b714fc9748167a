"""Nodes for the alert tests, sending alert e-mail to a relay on 127.0.0.1 (started by the tests that need it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanoinet.crypto.keys import KeyPair
from hanoinet.demo.network import free_port
from hanoinet.node.node import Node
from tests.alerts.support import configure
from tests.support import make_node


@pytest.fixture
def smtp_port() -> int:
    """A loopback port for the SMTP relay (nothing listens there until a test starts a server)."""
    return free_port()


def _alerting_node(root: Path, authority: KeyPair, database_url: str, smtp_port: int) -> Node:
    vnm = make_node(root, "VNM", authority, database_url=database_url)
    configure(vnm, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from="hanoinet@vnm.example.org",
              smtp_timeout_seconds=2)
    return vnm


@pytest.fixture
def node(tmp_path: Path, authority: KeyPair, database_url: str, smtp_port: int) -> Node:
    """Viet Nam's node on the database under test (storage tests: SQLite, then PostgreSQL)."""
    return _alerting_node(tmp_path, authority, database_url, smtp_port)


@pytest.fixture
def local_node(tmp_path: Path, authority: KeyPair, smtp_port: int) -> Node:
    """Viet Nam's node on SQLite only, for tests of the channels rather than of storage."""
    return _alerting_node(tmp_path, authority, "", smtp_port)
