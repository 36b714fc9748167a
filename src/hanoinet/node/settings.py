"""Node configuration: ``DATA/hanoinet.toml`` written by ``node init``, overridden by ``HANOINET_*`` variables.

Every setting is documented in docs/operations.md. Durations are whole seconds.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hanoinet import errors
from hanoinet.convention import PRIORITIES, REQUEST_KINDS
from hanoinet.errors import ConfigurationError
from hanoinet.hashbank import takedown_rules
from hanoinet.network.directory import Declaration, Desk, check_endpoint

CONFIG_FILE = "hanoinet.toml"

#: Priorities a page can have, with their default acknowledgement targets in seconds (the Convention data's
#: desk-policy defaults: emergency 3600, urgent 14400, normal 86400).
DEFAULT_ACK_TARGET_SECONDS = {name: int(p.acknowledge_within.total_seconds()) for name, p in PRIORITIES.items()}


class DeskPolicy(BaseModel):
    """How one desk is alerted: its local time zone, an optional pager/chat webhook, and its targets.

    Local policy of the node, never published: the time zone is the one the desk's rota is written in.
    """

    model_config = ConfigDict(extra="forbid")

    #: IANA time zone of the desk, e.g. ``Europe/Paris``: rota times are entered and shown in it.
    timezone: str = "UTC"
    #: A pager or chat gateway that receives a signed JSON POST at every alert level; empty: none.
    webhook_url: str = ""
    #: Key of the HMAC-SHA256 signature sent in ``X-Hanoinet-Signature``; unset: the POST is unsigned.
    webhook_secret: SecretStr | None = None
    #: Time allowed to acknowledge a page, per priority; priorities not given keep their default.
    ack_target_seconds: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_ACK_TARGET_SECONDS))
    #: Time between escalation levels; unset: the acknowledgement target of the page's priority.
    escalation_step_seconds: int | None = Field(default=None, ge=1)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name; write it like Europe/Paris or "
                             "Asia/Ho_Chi_Minh") from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if value and not _is_secure_url(value):
            raise ValueError(f"webhook_url {value!r} must be an https:// URL (http:// only on a loopback host)")
        return value

    @field_validator("ack_target_seconds")
    @classmethod
    def _targets(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(DEFAULT_ACK_TARGET_SECONDS))
        if unknown:
            raise ValueError(f"unknown priorities {unknown} in ack_target_seconds; known: "
                             f"{', '.join(DEFAULT_ACK_TARGET_SECONDS)}")
        if any(seconds < 1 for seconds in value.values()):
            raise ValueError("ack_target_seconds values must be at least 1 second")
        return {**DEFAULT_ACK_TARGET_SECONDS, **value}


def _is_secure_url(url: str) -> bool:
    """HTTPS anywhere, plain HTTP only to a loopback host (a local gateway, tests)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name, or an IP address with or without brackets) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class NodeSettings(BaseSettings):
    """Everything a node reads at start; environment variables win over the file."""

    model_config = SettingsConfigDict(env_prefix="HANOINET_", extra="forbid")

    data_dir: Path
    state: str
    name: str
    endpoint: str
    desks: list[Desk] = Field(min_length=1)
    #: Reservations and declarations this State made, published on its member card (docs/protocol.md, section 8).
    declarations: list[Declaration] = Field(default_factory=list)
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
    #: How often this node witnesses its peers' custody logs (fetch, check consistency, cosign).
    witness_interval_seconds: int = Field(default=60, ge=1)
    #: Lifetime of newly generated node keys.
    key_lifetime_days: int = Field(default=730, ge=1)
    #: SMTP relay for duty alerts; empty: e-mail alerts are disabled (a warning alarm says so when one is due).
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    #: Sender address of alert e-mails; required when smtp_host is set.
    smtp_from: str = ""
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    #: Upgrade the connection with STARTTLS before sending (and before logging in).
    smtp_starttls: bool = False
    smtp_timeout_seconds: int = Field(default=30, ge=1)
    #: Cap of the exponential retry backoff (with jitter) of a failed alert.
    alert_backoff_max_seconds: int = Field(default=60, ge=1)
    #: Where encrypted evidence blobs are stored: ``file:`` (``DATA/blobs``) or ``s3://bucket/prefix/``.
    blob_store: str = "file:"
    #: For an S3-compatible store: its endpoint URL (empty: AWS) and region; credentials come from the
    #: standard AWS environment variables or configuration files.
    blob_endpoint_url: str = ""
    blob_region: str = ""
    #: Compute a BLAKE3 hash of every evidence file besides SHA-256 (the canonical hash).
    evidence_blake3: bool = False
    #: The largest evidence offer (all its files) this node accepts from another State.
    evidence_max_offer_bytes: int = Field(default=1 << 40, ge=1)
    #: How often the evidence sweeper runs in each ``serve`` process (it also runs at start).
    evidence_sweep_interval_seconds: int = Field(default=3600, ge=60)
    #: How long a crash's leftover (an unfinished blob write, a blob no file names, a staging file without an
    #: upload, a pull folder without an offer, a package download left in exports/) must have been idle before
    #: the sweeper removes it: well above the longest pause of a write, and of a transaction (docs/evidence.md).
    evidence_sweep_age_seconds: int = Field(default=86400, ge=600)
    #: An upload to which nothing was sent for this long is removed, with its staged pieces.
    evidence_upload_expiry_seconds: int = Field(default=7 * 86400, ge=3600)
    #: Cases the public victims' page may open in any hour, from all addresses together (advocates' cases do not
    #: count): each image becomes a bank entry sent to every State, so the total is bounded, not only each
    #: address's share.
    victims_public_cases_per_hour: int = Field(default=500, ge=1)
    #: After the one line of an unexpected error, log its traceback: files, lines and code, never the values of
    #: variables nor the exception's message (docs/operations.md, "What is logged and what never is").
    debug_tracebacks: bool = False
    #: Local alerting policy of each desk (time zone, webhook, acknowledgement targets), by desk id.
    desk_policies: dict[str, DeskPolicy] = Field(default_factory=dict)
    #: Time a platform has to act on a confirmed match, per category (art14, art16); categories not given keep
    #: their default (a day for art14, two for art16). docs/takedown.md explains these five settings.
    takedown_deadline_seconds: dict[str, int] = Field(
        default_factory=lambda: dict(takedown_rules.DEFAULT_DEADLINE_SECONDS))
    #: A hash bank entry with more than ``takedown_flood_threshold`` match reports counted within one window of
    #: ``takedown_flood_window_seconds`` is quarantined for review (a defence against hash poisoning); each
    #: platform counts for at most half the threshold plus one (docs/takedown.md, section 3).
    takedown_flood_window_seconds: int = Field(default=takedown_rules.DEFAULT_FLOOD_WINDOW_SECONDS, ge=60)
    takedown_flood_threshold: int = Field(default=takedown_rules.DEFAULT_FLOOD_THRESHOLD, ge=1)
    #: An entry with false positives from at least this many sources (each platform once, this node's reviewers
    #: once), whose trust is below the threshold (in percent), is quarantined; trust is (confirmed + 1) /
    #: (confirmed + false positives + 2) (docs/takedown.md, section 3).
    takedown_min_false_positives: int = Field(default=takedown_rules.DEFAULT_MIN_FALSE_POSITIVES, ge=1)
    takedown_trust_threshold_percent: int = Field(default=takedown_rules.DEFAULT_TRUST_THRESHOLD_PERCENT, ge=0,
                                                  le=100)
    #: Kinds of outgoing request that a supervisor other than the author must approve before they are sent
    #: (four eyes; docs/requests.md, section 4).
    approval_required_kinds: list[str] = Field(default_factory=list)

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

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str) -> str:
        # One bare address: it becomes the From header of every alert.
        if value and not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", value):
            raise ValueError(f"smtp_from {value!r} is not one bare e-mail address, e.g. hanoinet@police.example.org")
        return value

    @field_validator("takedown_deadline_seconds")
    @classmethod
    def _deadlines(cls, value: dict[str, int]) -> dict[str, int]:
        defaults = takedown_rules.DEFAULT_DEADLINE_SECONDS
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            raise ValueError(f"unknown categories {unknown} in takedown_deadline_seconds; known: {', '.join(defaults)}")
        if any(seconds < 60 for seconds in value.values()):
            raise ValueError("takedown_deadline_seconds values must be at least 60 seconds")
        return {**defaults, **value}

    @field_validator("approval_required_kinds")
    @classmethod
    def _approval_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(REQUEST_KINDS))
        if unknown:
            raise ValueError(f"unknown request kinds {unknown} in approval_required_kinds; known: "
                             f"{', '.join(REQUEST_KINDS)}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> NodeSettings:
        if self.max_message_age_seconds < self.undeliverable_after_seconds:
            raise ValueError(
                "max_message_age_seconds must be at least undeliverable_after_seconds, or a message still "
                "being retried would be refused as too old by its recipient"
            )
        unknown = sorted(set(self.desk_policies) - self.desk_ids)
        if unknown:
            raise ValueError(f"desk_policies names desks this node does not have: {unknown}; "
                             f"desks: {sorted(self.desk_ids)}")
        if self.smtp_host and not self.smtp_from:
            raise ValueError("smtp_from (the sender address of alert e-mails) is required when smtp_host is set")
        if self.smtp_username and not self.smtp_starttls and not is_loopback_host(self.smtp_host):
            # The SMTP password would cross the network in clear.
            raise ValueError("smtp_username is set without smtp_starttls; enable smtp_starttls so the "
                             "password is not sent in clear (or use a relay on loopback)")
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

    @property
    def takedown_policy(self) -> takedown_rules.Policy:
        """The numbers of the takedown rules: deadlines, flood window and threshold, trust threshold."""
        return takedown_rules.Policy(
            deadline_seconds=self.takedown_deadline_seconds,
            flood_window=timedelta(seconds=self.takedown_flood_window_seconds),
            flood_threshold=self.takedown_flood_threshold, min_false_positives=self.takedown_min_false_positives,
            trust_threshold_percent=self.takedown_trust_threshold_percent)

    def desk_policy(self, desk: str) -> DeskPolicy:
        """The alerting policy of ``desk``: its own, or the defaults (UTC, no webhook, default targets)."""
        return self.desk_policies.get(desk) or DeskPolicy()

    def display_zone(self, desk: str | None = None) -> str:
        """The time zone times are shown in: ``desk``'s; for what belongs to the whole node (evidence, officers,
        the hash bank), the one zone all its desks share, or UTC when they sit in different zones."""
        if desk is not None:
            return self.desk_policy(desk).timezone
        zones = {self.desk_policy(d).timezone for d in self.desk_ids}
        return zones.pop() if len(zones) == 1 else "UTC"

    def ack_target(self, desk: str, priority: str) -> timedelta:
        """Time ``desk`` has to acknowledge a page of ``priority``."""
        targets = self.desk_policy(desk).ack_target_seconds
        if priority not in targets:
            raise errors.ValidationError(f"unknown priority {priority!r}",
                                         hint=f"priorities: {', '.join(DEFAULT_ACK_TARGET_SECONDS)}")
        return timedelta(seconds=targets[priority])

    def escalation_step(self, desk: str, priority: str) -> timedelta:
        """Time between two escalation levels of a page of ``priority`` at ``desk``."""
        step = self.desk_policy(desk).escalation_step_seconds
        return timedelta(seconds=step) if step is not None else self.ack_target(desk, priority)

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
