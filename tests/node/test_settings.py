"""Node configuration: hanoinet.toml written by write_config, overridden by HANOINET_* variables."""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoinet.errors import ConfigurationError
from hanoinet.node.settings import CONFIG_FILE, NodeSettings, _toml_value, load_settings, write_config

BASE: dict[str, Any] = {
    "state": "VNM",
    "name": "Node of Viet Nam",
    "endpoint": "https://vnm.example.org:8401/",
    "desks": [
        {"id": "247", "name": "24/7 point of contact", "languages": ["en", "vi"],
         "fallback_phones": ["+84 24 0000 0000"]},
        {"id": "CA", "name": "Central authority", "languages": ["vi"]},
    ],
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HANOINET_* variable from the surrounding shell may leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("HANOINET_"):
            monkeypatch.delenv(name)


def configured(tmp_path: Path, **changes: Any) -> Path:
    write_config(tmp_path, {**BASE, **changes})
    return tmp_path


def test_load_what_write_config_wrote(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path))
    assert s.data_dir == tmp_path
    assert s.state == "VNM"
    assert s.name == "Node of Viet Nam"
    assert s.endpoint == "https://vnm.example.org:8401"  # trailing slash removed
    assert [d.id for d in s.desks] == ["247", "CA"]
    assert s.desks[0].fallback_phones == ["+84 24 0000 0000"]
    assert s.desk_ids == {"247", "CA"}


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path))
    assert s.db_url == f"sqlite:///{tmp_path / 'node.db'}"
    assert s.sqlite_synchronous == "FULL"
    assert s.max_envelope_bytes == 4 * 1024 * 1024
    assert s.max_message_age == timedelta(days=7)
    assert s.directory_grace == timedelta(days=7)
    assert s.undeliverable_after_seconds == 2 * 86400
    assert s.passphrase() is None


def test_file_values_are_used(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path, max_envelope_bytes=8192, directory_grace_seconds=0,
                                 database_url="postgresql+psycopg://db/node", sqlite_synchronous="NORMAL"))
    assert s.max_envelope_bytes == 8192
    assert s.directory_grace == timedelta(0)
    assert s.db_url == "postgresql+psycopg://db/node"
    assert s.sqlite_synchronous == "NORMAL"


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path, max_envelope_bytes=8192)
    monkeypatch.setenv("HANOINET_MAX_ENVELOPE_BYTES", "65536")
    monkeypatch.setenv("HANOINET_NAME", "Renamed")
    s = load_settings(data_dir)
    assert s.max_envelope_bytes == 65536
    assert s.name == "Renamed"


def test_environment_values_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path)
    monkeypatch.setenv("HANOINET_MAX_ENVELOPE_BYTES", "100")  # below the 4096 minimum
    with pytest.raises(ConfigurationError, match="max_envelope_bytes"):
        load_settings(data_dir)


def test_message_age_must_cover_the_delivery_window(tmp_path: Path) -> None:
    data_dir = configured(tmp_path, max_message_age_seconds=3600, undeliverable_after_seconds=7200)
    with pytest.raises(ConfigurationError, match="max_message_age_seconds must be at least") as info:
        load_settings(data_dir)
    assert "docs/operations.md" in info.value.hint


def test_message_age_equal_to_delivery_window_is_fine(tmp_path: Path) -> None:
    s = load_settings(configured(tmp_path, max_message_age_seconds=7200, undeliverable_after_seconds=7200))
    assert s.max_message_age == timedelta(hours=2)


def test_environment_can_break_coherence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path)
    monkeypatch.setenv("HANOINET_UNDELIVERABLE_AFTER_SECONDS", str(30 * 86400))
    with pytest.raises(ConfigurationError):
        load_settings(data_dir)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a node data directory") as info:
        load_settings(tmp_path)
    assert "hanoinet node init" in info.value.hint


def test_invalid_toml(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text("state = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    "changes",
    [
        {"endpoint": "ftp://vnm.example.org"},
        {"desks": []},
        {"unknown_setting": 1},
        {"sqlite_synchronous": "OFF"},
        {"delivery_concurrency": 0},
        {"delivery_concurrency": 257},
        {"directory_poll_seconds": 1},
        {"max_message_age_seconds": 59, "undeliverable_after_seconds": 10},
        {"key_lifetime_days": 0},
        {"evidence_sweep_interval_seconds": 59},
        {"evidence_sweep_age_seconds": 599},  # shorter could race an ingest between its blob and its row
        {"evidence_upload_expiry_seconds": 3599},
        {"desks": [{"id": "247", "name": "x", "languages": ["english"]}]},
        {"approval_required_kinds": ["preservation", "search_warrant"]},
    ],
)
def test_invalid_values(tmp_path: Path, changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="is invalid"):
        load_settings(configured(tmp_path, **changes))


def test_missing_required_value(tmp_path: Path) -> None:
    write_config(tmp_path, {k: v for k, v in BASE.items() if k != "state"})
    with pytest.raises(ConfigurationError, match="state"):
        load_settings(tmp_path)


def test_bad_desk_id_is_a_configuration_error_regression(tmp_path: Path) -> None:
    # Regression: DeskId raises hanoinet's ValidationError, which is not pydantic's, so a bad desk id in
    # hanoinet.toml escaped load_settings as ValidationError instead of ConfigurationError.
    with pytest.raises(ConfigurationError, match="is invalid"):
        load_settings(configured(tmp_path, desks=[{"id": "2", "name": "x", "languages": ["en"]}]))


def test_passphrase_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path)
    monkeypatch.setenv("HANOINET_KEY_PASSPHRASE", "s3cret")
    s = load_settings(data_dir)
    assert s.passphrase() == b"s3cret"
    assert "s3cret" not in repr(s)


def test_passphrase_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path)
    secret = tmp_path / "passphrase.txt"
    secret.write_bytes(b"from file\r\n")
    monkeypatch.setenv("HANOINET_KEY_PASSPHRASE_FILE", str(secret))
    assert load_settings(data_dir).passphrase() == b"from file"


def test_passphrase_in_environment_wins_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path)
    secret = tmp_path / "passphrase.txt"
    secret.write_bytes(b"from file")
    monkeypatch.setenv("HANOINET_KEY_PASSPHRASE_FILE", str(secret))
    monkeypatch.setenv("HANOINET_KEY_PASSPHRASE", "from env")
    assert load_settings(data_dir).passphrase() == b"from env"


def test_unreadable_passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = configured(tmp_path)
    monkeypatch.setenv("HANOINET_KEY_PASSPHRASE_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="passphrase file"):
        load_settings(data_dir).passphrase()


def test_write_config_file_shape(tmp_path: Path) -> None:
    write_config(tmp_path, {**BASE, "flag": True, "count": 3})
    text = (tmp_path / CONFIG_FILE).read_text(encoding="utf-8")
    assert text.startswith("# hanoinet node configuration")
    parsed = tomllib.loads(text)
    assert parsed["flag"] is True
    assert parsed["count"] == 3
    assert parsed["desks"] == BASE["desks"]


def test_toml_values() -> None:
    assert _toml_value(True) == "true"
    assert _toml_value(False) == "false"
    assert _toml_value(-5) == "-5"
    assert _toml_value("a\"b") == '"a\\"b"'
    assert _toml_value([1, "x"]) == '[1, "x"]'
    assert _toml_value({"a": 1}) == "{ a = 1 }"
    with pytest.raises(TypeError):
        _toml_value(1.5)
    with pytest.raises(TypeError):
        _toml_value(None)


toml_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.recursive(
    st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | toml_text,
    lambda children: st.lists(children, max_size=4),
    max_leaves=10,
))
def test_toml_value_round_trip(value: Any) -> None:
    assert tomllib.loads(f"key = {_toml_value(value)}")["key"] == value


def test_delete_character_survives_the_round_trip_regression(tmp_path: Path) -> None:
    # Regression: json.dumps leaves U+007F unescaped, which TOML forbids in basic strings, so a name
    # containing it produced a hanoinet.toml that load_settings could not read.
    s = load_settings(configured(tmp_path, name="Node\x7fof Viet Nam"))
    assert s.name == "Node\x7fof Viet Nam"


def test_model_validates_directly(tmp_path: Path) -> None:
    s = NodeSettings(data_dir=tmp_path, **BASE)
    assert s.endpoint == "https://vnm.example.org:8401"


def test_times_are_shown_in_the_desks_zone_or_the_one_all_desks_share(tmp_path: Path) -> None:
    paris = {"timezone": "Europe/Paris"}
    split = load_settings(configured(tmp_path, desk_policies={"247": paris}))
    assert (split.display_zone("247"), split.display_zone("CA"), split.display_zone()) == \
        ("Europe/Paris", "UTC", "UTC")  # the desks differ: the node's own records are shown in UTC
    shared = load_settings(configured(tmp_path, desk_policies={"247": paris, "CA": paris}))
    assert shared.display_zone() == "Europe/Paris"


def test_approval_required_kinds_name_known_kinds(tmp_path: Path) -> None:
    assert load_settings(configured(tmp_path)).approval_required_kinds == []
    chosen = load_settings(configured(tmp_path, approval_required_kinds=["preservation"]))
    assert chosen.approval_required_kinds == ["preservation"]
    with pytest.raises(ConfigurationError, match="search_warrant"):
        load_settings(configured(tmp_path, approval_required_kinds=["search_warrant"]))
