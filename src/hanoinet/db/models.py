"""Tables of a node. Every schema change is an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use hanoinet.clock.now()")
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite so autoincrement works.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of all tables."""


class DirectoryVersion(Base):
    """Every directory version the node accepted, newest wins; kept for audit and offline verification."""

    __tablename__ = "directory_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    compact: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(500))


class Officer(Base):
    """A person who uses the node; the token is stored as its SHA-256 only."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    desk: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Where duty alerts reach the officer (docs/alerts.md); none: only the desk's webhook can.
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)


class AuditEntry(Base):
    """Who did what, when: every officer action and every security-relevant event."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")


class OutboxMessage(Base):
    """An envelope to deliver: written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    case_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    jws: Mapped[str] = mapped_column(Text)
    jwe: Mapped[bytes] = mapped_column(LargeBinary)
    jws_sha256: Mapped[str] = mapped_column(String(64))
    jwe_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    #: pending -> delivered | refused (permanent refusal by the peer) | undeliverable (past the cut-off)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    receipt: Mapped[str | None] = mapped_column(Text, nullable=True)


class InboxMessage(Base):
    """An envelope received and accepted. The primary key is the permanent set of seen message ids."""

    __tablename__ = "inbox"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    case_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(Text)
    jws: Mapped[str] = mapped_column(Text)
    jws_sha256: Mapped[str] = mapped_column(String(64))
    jwe_sha256: Mapped[str] = mapped_column(String(64))
    sender_kid: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[str] = mapped_column(Text)


class Alarm(Base):
    """Something an operator must look at: a conflicting replay, an undeliverable message, a stale directory.

    Open until an officer acknowledges it (seen, in hand) and then clears it (dealt with, with a reason); the
    state is read from the two timestamps (``hanoinet.node.alarms``). Each raising is its own row.
    """

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_open", "cleared_at", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    #: The desk whose work the alarm concerns (its officers see it); none: the node's own, for its operators.
    desk: Mapped[str | None] = mapped_column(String(16), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    acknowledged_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    cleared_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class RequestRecord(Base):
    """A cooperation request as this node sees it: the requesting or the requested side.

    The columns after ``fields`` are derived from the request's events (``request_events``) by the request
    state machine and kept here so lists and filters need no replay; ``version`` is the optimistic
    concurrency counter officers' actions are checked against.
    """

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_state", "state", "priority"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    #: Our side: ``requesting`` or ``requested``.
    side: Mapped[str] = mapped_column(String(12))
    requesting: Mapped[str] = mapped_column(String(32))
    requested: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(12))
    language: Mapped[str] = mapped_column(String(16))
    case_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_notify: Mapped[bool] = mapped_column(Boolean, default=False)
    fields: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    preserve_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The nearest preservation warning (days before ``preserve_until``) the desk was paged for; cleared when
    #: ``preserve_until`` changes.
    preservation_warned_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: A supervisor's approval of this draft's contents (JSON, as ``machine.approve`` gives it; four eyes),
    #: cleared when the draft is edited; it travels in the ``send``.
    approval: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The clocks of the Art. 40 procedure the desk was paged for as overdue (JSON list of ``name@due``).
    procedure_paged: Mapped[str | None] = mapped_column(Text, nullable=True)


class RequestEventRecord(Base):
    """One transition of a request, by either side, as signed and exchanged (or about to be)."""

    __tablename__ = "request_events"
    __table_args__ = (UniqueConstraint("request_id", "side", "seq", name="uq_request_events_side_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    side: Mapped[str] = mapped_column(String(12))
    seq: Mapped[int] = mapped_column(Integer)
    #: How many of the other side's events the author had seen when acting.
    seen: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    #: The instant as signed (RFC 3339 text), so both sides replay the same bytes.
    at: Mapped[str] = mapped_column(String(32))
    by_name: Mapped[str] = mapped_column(String(200))
    by_role: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)
    #: The envelope that carried (or will carry) it.
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RotaEntry(Base):
    """One officer on duty at a desk from ``starts_at`` to ``ends_at`` (UTC); ``call_order`` 1 is called first."""

    __tablename__ = "rota_entries"
    __table_args__ = (Index("ix_rota_entries_desk_ends", "desk", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    desk: Mapped[str] = mapped_column(String(16))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    call_order: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))


class Page(Base):
    """An urgent item waiting for a desk to acknowledge it, escalated level by level until someone does."""

    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_due", "next_escalation_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    subject_ref: Mapped[str] = mapped_column(String(40))
    desk: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(12))
    headline: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The highest escalation level raised so far (1: the first officer of the chain).
    level: Mapped[int] = mapped_column(Integer, default=1)
    #: Nobody was on duty when the page opened, so the supervisors were alerted at once.
    no_one_on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the next level is due; none once resolved or once the chain is exhausted.
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exhausted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Alert(Base):
    """One notification of a page to send: an e-mail to an officer or a POST to the desk's webhook."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    #: ``email`` or ``webhook``.
    channel: Mapped[str] = mapped_column(String(16))
    #: The e-mail address or the webhook URL.
    target: Mapped[str] = mapped_column(String(500))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: pending -> sent; failed (retried); skipped (e-mail disabled); cancelled (acknowledged before sending)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LedgerQueued(Base):
    """A custody event waiting for the sequencer, written in the transaction of the change it records."""

    __tablename__ = "ledger_queue"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The canonical record (RFC 8785 JSON).
    record: Mapped[str] = mapped_column(Text)
    #: The ledger entry: SHA-256 of the record (32 bytes).
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """A sequenced entry; ``record`` may be cleared (redaction, shredding) while ``entry`` stays."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_entry", "entry"),)

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    record: Mapped[str | None] = mapped_column(Text, nullable=True)
    sequenced_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerTile(Base):
    """The newest version of one C2SP tile (partial tiles grow; their hashes never change)."""

    __tablename__ = "ledger_tiles"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCheckpoint(Base):
    """Every checkpoint the log signed, as the signed note served to witnesses."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerState(Base):
    """The one row of sequencer state: tree size, its compact range, and the sequencer's lease."""

    __tablename__ = "ledger_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    #: The compact range's hashes, concatenated (32 bytes each, popcount(size) of them).
    compact: Mapped[bytes] = mapped_column(LargeBinary)
    holder: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LedgerCosignature(Base):
    """A witness's cosignature of one of our checkpoints, served with it."""

    __tablename__ = "ledger_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: The signature line, as it is appended to the checkpoint's signed note.
    line: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WitnessState(Base):
    """As a witness: the last checkpoint of a peer's log we verified and cosigned (survives restarts)."""

    __tablename__ = "witness_state"

    peer: Mapped[str] = mapped_column(String(3), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WitnessEvidence(Base):
    """As a witness: a peer's checkpoint that contradicts what we had verified, kept as evidence."""

    __tablename__ = "witness_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    peer: Mapped[str] = mapped_column(String(3))
    verdict: Mapped[str] = mapped_column(String(16))
    previous_note: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceKek(Base):
    """An epoch of the key-encryption key that wraps evidence data keys; shredding retires the epoch in use."""

    __tablename__ = "evidence_keks"

    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EvidenceFile(Base):
    """One evidence file held by this node: its hashes, where its ciphertext is, and its wrapped data key."""

    __tablename__ = "evidence_files"
    __table_args__ = (Index("ix_evidence_files_case", "case_ref"), Index("ix_evidence_files_sha256", "sha256"),
                      Index("ix_evidence_files_retain_until", "retain_until"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blake3: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The ciphertext's name in the blob store; cleared when the file is shredded.
    blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    chunk_size: Mapped[int] = mapped_column(Integer)
    #: The data key wrapped under epoch ``kek_epoch``; cleared when the file is shredded.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The State whose node first ingested the file (ours, or the sender of an evidence offer).
    origin: Mapped[str] = mapped_column(String(3))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ingested_by: Mapped[str] = mapped_column(String(100))
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The desk whose evidence it is (docs/authorisation.md): the ingesting officer's, or the desk a received
    #: offer was addressed to. None for files held before desks were recorded: only supervisors and admins see them.
    desk: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The end of the retention period the sending State set in the package's use conditions, if it set one.
    sender_retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The end of a shorter period this State set (never later than the sender's); None if none was set.
    domestic_retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The earlier of the two: when the retention job shreds the file (docs/privacy.md, "Retention").
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: A file received from another State (docs/privacy.md): the sending address (``STATE/desk``, or the State
    #: alone for files received before it was recorded), the package it came in, the case it was given for, and
    #: the purpose and use conditions (JSON, as in ``package.json``) its package set. None for our own files.
    origin_sender: Mapped[str | None] = mapped_column(String(40), nullable=True)
    origin_package: Mapped[str | None] = mapped_column(String(36), nullable=True)
    origin_case: Mapped[str | None] = mapped_column(String(128), nullable=True)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    use_conditions: Mapped[str | None] = mapped_column(Text, nullable=True)


class EvidenceCustody(Base):
    """Which custody log entries concern which evidence file (by entry hash: the index comes later)."""

    __tablename__ = "evidence_custody"
    __table_args__ = (Index("ix_evidence_custody_file", "file_id"), Index("ix_evidence_custody_entry", "entry"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    file_id: Mapped[str] = mapped_column(String(32))
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    action: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceOffer(Base):
    """A package offered to (``out``) or by (``in``) another State; the receiver pulls its files."""

    __tablename__ = "evidence_offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    peer: Mapped[str] = mapped_column(String(3))
    case_ref: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The package's metadata members (JSON: name -> base64), and its signature.
    head: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    #: Incoming offers: the capability to pull with, and where.
    capability: Mapped[str | None] = mapped_column(Text, nullable=True)
    pull_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: ``offered`` (out), ``pulling`` / ``complete`` / ``failed`` (in).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Our desk: the one that sent it (out) or the one it was addressed to (in); None before desks were recorded.
    desk: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: Incoming offers: the end of the retention period in the package's use conditions, if the sender set one.
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Incoming offers: the sending desk, to which consent requests about its files go.
    peer_desk: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ConsentRequest(Base):
    """A request for consent to use received evidence beyond its purpose (docs/privacy.md): ``out`` when this
    node asked the originating State, ``in`` when another State asked this one."""

    __tablename__ = "consent_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    #: The other State: the originating State asked (out), or the State asking (in).
    peer: Mapped[str] = mapped_column(String(3))
    #: The other side's desk address (``STATE/desk``): where the request went, or where the answer goes.
    peer_address: Mapped[str] = mapped_column(String(40))
    desk: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: ``case`` (use in another case) or ``transfer`` (onward transfer), and the case or recipient.
    use: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(100))


class ConsentItem(Base):
    """One item of a consent request, by content hash and the package it travelled in, and its answer."""

    __tablename__ = "consent_items"
    __table_args__ = (Index("ix_consent_items_sha256", "sha256"),)

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    package: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: The local evidence file: the received copy (out), or the original that was sent (in).
    file_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: ``asked``, ``granted`` or ``refused``.
    status: Mapped[str] = mapped_column(String(16))
    #: The answer's conditions (JSON list of strings) and reason.
    conditions: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class EvidenceOfferFile(Base):
    """One file of an offer: the local evidence file (the source, or the copy once pulled)."""

    __tablename__ = "evidence_offer_files"

    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    path: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chunk_size: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class EvidenceUpload(Base):
    """A resumable upload through the API: pieces are kept encrypted until the upload completes."""

    __tablename__ = "evidence_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: Declared size, and how many plaintext bytes are durably received.
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger)
    #: Length of the staging file holding those bytes (encrypted pieces), and how many pieces.
    staged: Mapped[int] = mapped_column(BigInteger)
    pieces: Mapped[int] = mapped_column(Integer)
    #: The staging key, wrapped like a data key.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    #: The desk of the officer who started it: the completed file is filed there.
    desk: Mapped[str | None] = mapped_column(String(16), nullable=True)


class HashEntry(Base):
    """One entry of the network's hash bank (docs/hashbank.md): a perceptual hash and nothing about the victim.

    ``id`` is this node's row number, which its matcher uses; ``entry_id`` is the entry's identifier on every
    node, chosen by the origin State, and unique with the origin. A withdrawal that arrives before its addition
    leaves a row with no hash, so the late addition is ignored.
    """

    __tablename__ = "hash_entries"
    # An entry is its origin's: another origin's changes can never touch it, even under the same id.
    __table_args__ = (UniqueConstraint("origin", "entry_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ``art14`` (child sexual abuse material) or ``art16`` (intimate images shared without consent).
    category: Mapped[str | None] = mapped_column(String(8), nullable=True)
    origin: Mapped[str] = mapped_column(String(3), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: ``active`` or ``withdrawn``; a withdrawal is final.
    status: Mapped[str] = mapped_column(String(10))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HashChange(Base):
    """The bank's change log in the order this node recorded it: what its matcher and platforms' feeds follow.

    ``seq`` is assigned under the lock on :class:`HashBankState`, so changes commit in ``seq`` order and a
    reader that has seen ``seq`` ``n`` never later finds a change below ``n``.
    """

    __tablename__ = "hash_changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_row: Mapped[int] = mapped_column(BigId, ForeignKey("hash_entries.id"), index=True)
    #: ``add`` or ``withdraw``.
    op: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: SHA-256 chaining this change to the previous one: a platform's checkpoint names it, so a feed that was
    #: rewritten (a node restored from an older backup) is detected instead of silently skipped.
    chain: Mapped[str] = mapped_column(String(64))


class HashBankState(Base):
    """The one row holding the change log's head; locked by every writer of the bank."""

    __tablename__ = "hashbank_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    chain: Mapped[str] = mapped_column(String(64))


class HashBankPeer(Base):
    """How far this node's own changes have been sent to a peer State (its bank replica)."""

    __tablename__ = "hashbank_peers"

    state: Mapped[str] = mapped_column(String(3), primary_key=True)
    sent_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When everything was last queued again because an envelope to this peer was refused or undeliverable.
    resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Platform(Base):
    """An online platform registered with this node: it reads the bank's feed and asks for matches."""

    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VictimCase(Base):
    """A victim's submission at their State's node (docs/victims.md): a case number and a secret, no identity.

    The secret is a random value shown once to the victim; only its SHA-256 is kept. Failed guesses are
    counted per case and lock it for a while.
    """

    __tablename__ = "victim_cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(8))
    #: The language the victim chose, for the status page (BCP 47 primary tag: ar, en, es, fr, ru, vi, zh).
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: ``victim`` (the public page) or the officer who submitted for the victim (``officer:ID``).
    created_by: Mapped[str] = mapped_column(String(100))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VictimImage(Base):
    """One image of a case, known only by its position and its bank entry (the hash of the image as given)."""

    __tablename__ = "victim_images"
    __table_args__ = (UniqueConstraint("case_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("victim_cases.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    entry_row: Mapped[int] = mapped_column(BigId, ForeignKey("hash_entries.id"), unique=True)


class MatchReport(Base):
    """A platform's report of a match at this node, and its review (docs/takedown.md).

    ``review`` is ``pending`` until a reviewer decides: ``confirmed`` (removal-worthy: a notice with a deadline
    goes to the platform) or ``rejected`` (a false positive, which lowers the entry's trust). ``action`` is what
    the platform says it did: ``removed``, ``not_removed`` (with ``reason``) or ``under_review``.
    """

    __tablename__ = "match_reports"
    __table_args__ = (UniqueConstraint("platform_id", "entry_row", "content_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(BigId, ForeignKey("platforms.id"), index=True)
    entry_row: Mapped[int] = mapped_column(BigId, ForeignKey("hash_entries.id"), index=True)
    #: The platform's own reference to the content (never the content).
    content_ref: Mapped[str] = mapped_column(String(200))
    distance: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    review: Mapped[str] = mapped_column(String(16), index=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Once confirmed: by when the platform must act, and when the node escalated a missed deadline.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HashTrust(Base):
    """This node's experience of one bank entry: confirmed matches, false positives, and a quarantine."""

    __tablename__ = "hash_trust"

    entry_row: Mapped[int] = mapped_column(BigId, ForeignKey("hash_entries.id"), primary_key=True,
                                           autoincrement=False)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    #: How many platforms, and this node's reviewers, called a match of the entry a false positive since the
    #: last release: the number of ``false_positive_sources``.
    false_positives: Mapped[int] = mapped_column(Integer, default=0)
    #: Those sources, as a JSON list: platform ids, and 0 for this node's reviewers.
    false_positive_sources: Mapped[str] = mapped_column(Text, default="[]")
    #: Match reports in the current window, for flood detection (hash poisoning).
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_reports: Mapped[int] = mapped_column(Integer, default=0)
    #: The same per platform, as a JSON object: platform id -> new reports in the window.
    window_platforms: Mapped[str] = mapped_column(Text, default="{}")
    quarantined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    quarantine_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class TakedownStatus(Base):
    """At the origin node: what each platform, in each country, did about one entry; what a victim sees."""

    __tablename__ = "takedown_status"

    entry_row: Mapped[int] = mapped_column(BigId, ForeignKey("hash_entries.id"), primary_key=True,
                                           autoincrement=False)
    state: Mapped[str] = mapped_column(String(3), primary_key=True)
    platform: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessRecord(Base):
    """One read of personal data by an officer (hanoinet.privacy.access): who, when, which item, why, how.

    Append-only: triggers refuse UPDATE and DELETE (migration 0013); each row's ``digest`` chains it to the one
    before, so a row removed or changed behind the triggers' back shows.
    """

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_actor", "actor", "seq"),
        Index("ix_access_log_item", "item_ref", "seq"),
        Index("ix_access_log_case", "case_ref", "seq"),
        Index("ix_access_log_at", "at"),
    )

    #: 1, 2, 3, ... in the order of the chain; given under the table's lock, never reused.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: None for the node's operator at its machine (``actor`` is then ``operator:LOGIN``).
    officer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    #: The officer's name when they read, as names may change later.
    name: Mapped[str] = mapped_column(String(200))
    item_kind: Mapped[str] = mapped_column(String(32))
    item_ref: Mapped[str] = mapped_column(String(200))
    case_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    #: The route (``GET /api/v1/requests/{ref}``) or the command (``hanoinet evidence export``) used.
    via: Mapped[str] = mapped_column(String(200))
    #: SHA-256 (hex) of the previous row's digest and this row's canonical JSON; 64 zeros before the first.
    previous: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
