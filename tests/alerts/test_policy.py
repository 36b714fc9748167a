"""Alert settings: desk policies from hanoinet.toml and from HANOINET_DESK_POLICIES, SMTP settings checked."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hanoinet.errors import ConfigurationError, ValidationError
from hanoinet.node.settings import CONFIG_FILE, load_settings, write_config
from tests.node.test_settings import BASE


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("HANOINET_"):
            monkeypatch.delenv(name)


def configured(tmp_path: Path, extra: str = "", **changes: Any) -> Path:
    write_config(tmp_path, {**BASE, **changes})
    if extra:
        with (tmp_path / CONFIG_FILE).open("a", encoding="utf-8") as f:
            f.write(extra)
    return tmp_path


def test_defaults_when_a_desk_has_no_policy(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path))
    assert s.smtp_host == "" and s.smtp_port == 25 and not s.smtp_starttls
    policy = s.desk_policy("247")
    assert policy.timezone == "UTC" and policy.webhook_url == "" and policy.webhook_secret is None
    assert s.ack_target("247", "emergency") == timedelta(hours=1)
    assert s.ack_target("CA", "urgent") == timedelta(hours=4)
    assert s.ack_target("CA", "normal") == timedelta(days=1)
    assert s.escalation_step("247", "emergency") == timedelta(hours=1)  # default step: the ack target


def test_desk_policy_from_a_toml_table(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path, extra="""
[desk_policies.247]
timezone = "Europe/Paris"
webhook_url = "https://pager.example.org/hooks/247"
webhook_secret = "s3cret"
escalation_step_seconds = 600

[desk_policies.247.ack_target_seconds]
emergency = 1800
""", smtp_host="mail.example.org", smtp_from="hanoinet@example.org"))
    policy = s.desk_policy("247")
    assert policy.timezone == "Europe/Paris" and policy.webhook_url.endswith("/247")
    assert policy.webhook_secret is not None and policy.webhook_secret.get_secret_value() == "s3cret"
    assert s.ack_target("247", "emergency") == timedelta(minutes=30)
    assert s.ack_target("247", "urgent") == timedelta(hours=4)  # not given: the default stays
    assert s.escalation_step("247", "normal") == timedelta(minutes=10)
    assert "s3cret" not in repr(s)


def test_desk_policies_from_the_environment_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANOINET_DESK_POLICIES", json.dumps({"CA": {"timezone": "Asia/Ho_Chi_Minh"}}))
    monkeypatch.setenv("HANOINET_SMTP_PASSWORD", "pw")
    s = load_settings(configured(tmp_path))
    assert s.desk_policy("CA").timezone == "Asia/Ho_Chi_Minh"
    assert s.smtp_password is not None and s.smtp_password.get_secret_value() == "pw"


@pytest.mark.parametrize(("changes", "extra", "expected"), [
    ({}, '[desk_policies.247]\ntimezone = "Paris"\n', "'Paris' is not an IANA time zone name"),
    ({}, '[desk_policies.XYZ]\ntimezone = "UTC"\n', "desks this node does not have: ['XYZ']"),
    ({}, '[desk_policies.247.ack_target_seconds]\nroutine = 60\n', "unknown priorities ['routine']"),
    ({}, '[desk_policies.247]\nwebhook_url = "http://pager.example.org/h"\n', "must be an https:// URL"),
    ({"smtp_host": "mail.example.org"}, "", "smtp_from"),
    ({"smtp_host": "mail.example.org", "smtp_from": "a@example.org", "smtp_username": "u"}, "", "smtp_starttls"),
])
def test_bad_alert_settings_are_explained(tmp_path: Path, changes: dict[str, Any], extra: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(configured(tmp_path, extra=extra, **changes))
    assert expected in refused.value.message
    assert "docs/operations.md" in refused.value.hint


def test_an_unknown_priority_is_refused(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path))
    with pytest.raises(ValidationError, match="unknown priority 'routine'"):
        s.ack_target("247", "routine")
