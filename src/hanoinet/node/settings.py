"""Node configuration: ``DATA/hanoinet.toml`` written by ``node init``, overridden by ``HANOINET_*`` variables.

Every setting is documented in docs/operations.md. Durations are whole seconds.
"""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hanoinet import errors
from hanoinet.errors import ConfigurationError
from hanoinet.network.directory import Desk, check_endpoint

CONFIG_FILE = "hanoinet.toml"


class NodeSettings(BaseSettings):
    """Everything a node reads at start; environment variables win over the file."""

    model_config = SettingsConfigDict(env_prefix="HANOINET_", extra="forbid")

    data_dir: Path
    state: str
    name: str
    endpoint: str
    desks: list[Desk] = Field(min_length=1)
    #: Database; default: SQLite file ``node.db`` in the data directory.
    database_url: str = ""
    #: SQLite durability: FULL survives power loss; NORMAL survives a process crash only.
    sqlite_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL)$")
    key_passphrase: SecretStr | None = None
    key_passphrase_file: Path | None = None
    #: Where the Secretariat publishes the directory; empty: import by hand only.
    directory_url: str = ""
    directory_poll_seconds: int = Field(default=300, ge=5)
    #: How long an expired directory keeps working, with warnings, before envelopes are refused.
    directory_grace_seconds: int = Field(default=7 * 86400, ge=0)
    max_envelope_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    #: Envelopes created longer ago than this are refused (replay bound); >= undeliverable_after_seconds.
    max_message_age_seconds: int = Field(default=7 * 86400, ge=60)
    #: After this long without a receipt a message is marked undeliverable and an alarm is raised.
    undeliverable_after_seconds: int = Field(default=2 * 86400, ge=10)
    delivery_concurrency: int = Field(default=32, ge=1, le=256)
    delivery_backoff_max_seconds: int = Field(default=300, ge=1)
    #: Per-peer token bucket on the federation endpoint: sustained rate and burst.
    peer_rate_per_second: int = Field(default=1000, ge=1)
    peer_rate_burst: int = Field(default=2000, ge=1)
    #: Extra CA certificates (PEM) trusted when connecting to peers, e.g. a national PKI; default: system CAs.
    tls_ca_file: Path | None = None
    #: Lifetime of newly generated node keys.
    key_lifetime_days: int = Field(default=730, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init arguments; the environment must override it.
        return (env_settings, init_settings)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)

    @model_validator(mode="after")
    def _coherent(self) -> NodeSettings:
        if self.max_message_age_seconds < self.undeliverable_after_seconds:
            raise ValueError(
                "max_message_age_seconds must be at least undeliverable_after_seconds, or a message still "
                "being retried would be refused as too old by its recipient"
            )
        return self

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'node.db'}"

    @property
    def desk_ids(self) -> set[str]:
        """Ids of this node's desks."""
        return {d.id for d in self.desks}

    @property
    def max_message_age(self) -> timedelta:
        """Maximum accepted envelope age."""
        return timedelta(seconds=self.max_message_age_seconds)

    @property
    def directory_grace(self) -> timedelta:
        """Grace period after directory expiry."""
        return timedelta(seconds=self.directory_grace_seconds)

    def passphrase(self) -> bytes | None:
        """The key passphrase from the environment or its file, if either is set."""
        if self.key_passphrase is not None:
            return self.key_passphrase.get_secret_value().encode()
        if self.key_passphrase_file is not None:
            try:
                return self.key_passphrase_file.read_bytes().rstrip(b"\r\n")
            except OSError as exc:
                raise ConfigurationError(f"cannot read the key passphrase file: {exc}") from None
        return None


def load_settings(data_dir: Path) -> NodeSettings:
    """Read ``DATA/hanoinet.toml`` and the environment."""
    path = data_dir / CONFIG_FILE
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{data_dir} is not a node data directory (no {CONFIG_FILE})",
            hint="create one with `hanoinet node init`, or pass the right --data",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    values["data_dir"] = data_dir
    try:
        return NodeSettings(**values)
    except (ValidationError, errors.ValidationError) as exc:  # ours comes from DeskId and other field types
        raise ConfigurationError(
            f"configuration in {path} or HANOINET_* variables is invalid: {exc}",
            hint="see docs/operations.md, section Configuration",
        ) from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # TOML basic strings accept JSON escapes, but not the raw DEL character json.dumps leaves in place.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_config(data_dir: Path, values: dict[str, Any]) -> None:
    """Write ``hanoinet.toml`` (top-level keys only, inline tables for desks)."""
    lines = ["# hanoinet node configuration; HANOINET_* environment variables override these values.", ""]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    (data_dir / CONFIG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
