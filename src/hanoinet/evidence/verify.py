"""Offline verification of an evidence package: no network, no database, one streaming pass.

Every check is listed in the report with what was checked, how, and the result, so that a court can read
what holds. The verdict needs both: the package is VALID only when every check holds *and* a trust anchor
given from outside the package (a fingerprint the Secretariat published, or the authority key a node pins)
ties its signing key to the State it names. An intact package nobody anchored, or one no trusted key vouches
for, gets a verdict of its own: anyone can make an intact package in any State's name with a key and a
"Secretariat" of their own. Warnings (checkpoint not witnessed) say what else is not established
(docs/evidence.md, "Verifying a package").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from hanoinet.clock import format_instant, parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.keys import import_public_jwk, thumbprint
from hanoinet.errors import HanoinetError, ValidationError
from hanoinet.evidence.canonzip import ZipLayoutError
from hanoinet.evidence.layout import CONTENTS_TYP, PACKAGE_TYPE, SIGNATURE
from hanoinet.evidence.reading import Member, Refused, read_members
from hanoinet.ledger.bundle import verify_bundle
from hanoinet.ledger.cosignature import Cosignature, CosignatureVerifier
from hanoinet.ledger.names import origin_of, witness_name
from hanoinet.ledger.note import Verifier
from hanoinet.network.directory import Directory, MemberCard, verify_card
from hanoinet.states import state_name

#: How long after its expiry a directory still vouches for a signer (the node's default grace period).
DIRECTORY_GRACE = timedelta(days=7)
#: How far clocks of different nodes may disagree.
CLOCK_SKEW = timedelta(minutes=5)


#: An RFC 7638 SHA-256 thumbprint, base64url without padding: the form of every key fingerprint (``kid``).
FINGERPRINT = re.compile(r"[A-Za-z0-9_-]{43}")


class Verdict(StrEnum):
    """What a verification establishes; each verdict has its own exit status (docs/evidence.md)."""

    VALID = "valid"
    NOT_VALID = "not_valid"
    NOT_ANCHORED = "not_anchored"
    UNTRUSTED_SIGNER = "untrusted_signer"

    @property
    def label(self) -> str:
        """The verdict in capitals, as the command line and the court's report state it."""
        return _LABELS[self]

    @property
    def exit_status(self) -> int:
        """The exit status of ``hanoinet verify`` for this verdict."""
        return _EXIT_STATUS[self]


_LABELS = {Verdict.VALID: "VALID", Verdict.NOT_VALID: "NOT VALID", Verdict.NOT_ANCHORED: "INTACT, NOT ANCHORED",
           Verdict.UNTRUSTED_SIGNER: "INTACT, UNTRUSTED SIGNER"}
# 2 is every command's status for a command that could not run (a usage error, an unreadable --data).
_EXIT_STATUS = {Verdict.VALID: 0, Verdict.NOT_VALID: 1, Verdict.NOT_ANCHORED: 3, Verdict.UNTRUSTED_SIGNER: 4}


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """A key fingerprint the verifier trusts, and where it came from (shown to the court)."""

    fingerprint: str
    source: str = "given to the verifier"


def trust_anchors(values: Iterable[str], source: str) -> list[TrustAnchor]:
    """Fingerprints as a person gave them (``source``: where); refuses anything that is not a fingerprint.

    A placeholder copied from documentation must not quietly become "no anchor": it is an error to fix.
    """
    anchors = []
    for value in values:
        text = value.strip()
        if not FINGERPRINT.fullmatch(text):
            raise ValidationError(
                f"{source} {value!r} is not a key fingerprint: a fingerprint is 43 characters of base64url "
                "(an RFC 7638 thumbprint)",
                hint="give the fingerprint the Secretariat published for its authority key, or the one "
                     "`hanoinet node authority --data DIR` prints on a node", code="not_a_fingerprint")
        anchors.append(TrustAnchor(text, source))
    return anchors


@dataclass(frozen=True, slots=True)
class Check:
    """One check: what, of what, how it was done, and its result."""

    name: str
    subject: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Report:
    """Everything the verifier established about one package."""

    source: str
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    package: dict[str, Any] = field(default_factory=dict)
    signer_state: str | None = None
    signer_fingerprint: str | None = None
    trusted: list[TrustAnchor] = field(default_factory=list)
    anchored_by: str | None = None
    witnesses: list[str] = field(default_factory=list)
    witnessed_before: str | None = None

    @property
    def intact(self) -> bool:
        """Whether every check but the anchor holds (and there was at least one): nothing changed since signing."""
        return bool(self.checks) and all(c.ok for c in self.checks if c.name != "anchor")

    @property
    def verdict(self) -> Verdict:
        """VALID needs an intact package *and* a trusted key that anchors its signer."""
        if not self.intact:
            return Verdict.NOT_VALID
        if self.anchored_by is not None and all(c.ok for c in self.checks):
            return Verdict.VALID
        return Verdict.UNTRUSTED_SIGNER if self.trusted else Verdict.NOT_ANCHORED

    @property
    def ok(self) -> bool:
        """Whether the verdict is VALID."""
        return self.verdict is Verdict.VALID

    @property
    def anchor_source(self) -> str | None:
        """Where the trusted key that anchored the signer came from."""
        return next((a.source for a in self.trusted if a.fingerprint == self.anchored_by), None)

    def add(self, name: str, subject: str, ok: bool, detail: str) -> bool:
        """Record one check; returns ``ok``."""
        self.checks.append(Check(name, subject, ok, detail))
        return ok

    def as_json(self) -> dict[str, Any]:
        """For ``--json``."""
        return {"verdict": str(self.verdict), "ok": self.ok, "intact": self.intact,
                "exit_status": self.verdict.exit_status, "source": self.source, "package": self.package.get("id"),
                "case": self.package.get("case"), "sender": self.package.get("sender"),
                "recipient": self.package.get("recipient"), "created_at": self.package.get("created_at"),
                "use_conditions": self.package.get("use_conditions"),
                "files": self.package.get("files", []), "signer": {"state": self.signer_state,
                                                                  "fingerprint": self.signer_fingerprint,
                                                                  "anchored_by": self.anchored_by,
                                                                  "anchor_source": self.anchor_source},
                "trusted": [{"fingerprint": a.fingerprint, "source": a.source} for a in self.trusted],
                "witnesses": self.witnesses, "witnessed_before": self.witnessed_before,
                "checks": [{"name": c.name, "subject": c.subject, "ok": c.ok, "detail": c.detail}
                           for c in self.checks],
                "warnings": self.warnings}


def headline(report: Report) -> str:
    """The verdict and its reason in one line, the same on the command line and at the top of the report."""
    verdict, state = report.verdict, _named(report.signer_state)
    if verdict is Verdict.VALID:
        reason = f"every check holds and a trusted key anchors the signer, {state}"
    elif verdict is Verdict.NOT_VALID:
        failed = sum(not c.ok for c in report.checks)
        reason = f"{failed} check{'' if failed == 1 else 's'} failed" if failed else "nothing could be checked"
    elif verdict is Verdict.NOT_ANCHORED:
        reason = f"nobody has shown that this key belongs to {state}"
    else:
        reason = f"no trusted key vouches that this key belongs to {state}"
    return f"{verdict.label} — {reason}"


def next_step(report: Report, package: str) -> str:
    """What to do next for this verdict (empty when nothing), naming ``package`` as the user gave it."""
    verdict, state = report.verdict, _named(report.signer_state)
    if verdict is Verdict.NOT_ANCHORED:
        return (f"verify again against the Secretariat: hanoinet verify {package} --trust FINGERPRINT, where "
                "FINGERPRINT is the fingerprint the Secretariat published for its authority key (never one taken "
                f"from the package); on a node, hanoinet verify {package} --data DIR trusts the key the node pins "
                "(hanoinet node authority --data DIR prints it)")
    if verdict is Verdict.UNTRUSTED_SIGNER:
        trusted = ", ".join(f"{a.fingerprint} ({a.source})" for a in report.trusted)
        many = len(report.trusted) > 1
        return (f"compare the trusted key{'s' if many else ''} {trusted} with the fingerprint the Secretariat "
                f"published for its authority key. If {'one of them is' if many else 'it is'} the right one, this "
                f"package was not signed by a key the Secretariat lists for {state}: do not rely on it, and ask "
                f"the central authority of {state} about it")
    return ""


def _named(state: str | None) -> str:
    """A State as "VNM (Viet Nam)"; the signer's State comes from the package, so it may be no code at all."""
    if not state:
        return "the State it names"
    # pycountry raises on lookups of some non-codes; only a three-letter text can be a code at all
    name = state_name(state) if len(state) == 3 and state.isalpha() else state
    return state if name == state else f"{state} ({name})"


def verify_package(source: BinaryIO, *, name: str = "package", trust: Sequence[str | TrustAnchor] = ()) -> Report:
    """Verify the package readable from ``source`` against the trusted key fingerprints (RFC 7638) in ``trust``.

    Never raises for anything in the package: what cannot be checked is a failed check. The trust anchors must
    come from outside the package; without one the verdict is at best NOT_ANCHORED.
    """
    return verify_read(lambda: read_members(source), name=name, trust=trust)


def verify_read(members: Callable[[], list[Member]], *, name: str = "package",
                trust: Sequence[str | TrustAnchor] = ()) -> Report:
    """:func:`verify_package` of a package whose members ``members()`` gives (reading.read_members, or a
    reading.Reading begun earlier)."""
    report = Report(source=name, trusted=[a if isinstance(a, TrustAnchor) else TrustAnchor(a) for a in trust])
    try:
        _verify(report, members, name, [a.fingerprint for a in report.trusted])
    except OSError as exc:
        report.add("layout", name, False, f"cannot read {exc.filename or 'the file'}: {exc.strerror or exc}")
    except Exception as exc:  # a hostile package must give a verdict, not a traceback
        report.add("internal", name, False, f"verification stopped on {type(exc).__name__}: {exc}")
    return report


def _verify(report: Report, read: Callable[[], list[Member]], name: str, trust: Sequence[str]) -> None:
    try:
        members = read()
    except (ZipLayoutError, Refused) as exc:
        report.add("layout", name, False, str(exc))
        return
    report.add("layout", name, True, "canonical ZIP: fixed member order, stored, fixed times, no extra fields; "
               f"{len(members)} members; every CRC-32 recomputed")
    metadata = {m.name: m.data for m in members if m.data is not None}
    try:
        package = _json(metadata, "package.json")
        signer = _json(metadata, "signer.json")
        custody = _json(metadata, "custody.json")
        manifest = _json(metadata, "manifest.jsonld")
    except Refused as exc:
        report.add("metadata", name, False, str(exc))
        return
    problem = _shape_problem(package, custody, signer)
    if problem:
        report.add("metadata", name, False, problem)
        return
    report.package = package
    card = _signature(report, members, metadata, package, signer)
    _files(report, members, package)
    _manifest(report, package, manifest)
    if card is not None:
        directory = _trusted_directory(signer, trust)
        _custody(report, package, custody, card, directory)
        _anchor(report, package, signer, card, trust=trust, directory=directory)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _FileEntry(_Strict):
    path: str
    file_id: str
    name: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    blake3: str | None
    media_type: str | None
    origin: str
    ingested_at: str
    ingested_by: str


class _PackageJson(_Strict):
    type: Literal["hanoinet-evidence-package"]
    v: Literal[1]
    id: str
    created_at: str
    sender: str
    recipient: str | None
    case: str
    use_conditions: dict[str, str | list[str]]
    files: list[_FileEntry]


class _CustodyEntry(_Strict):
    index: int = Field(ge=0)
    entry: str
    record: str | None
    proof: list[str]


class _CustodyJson(_Strict):
    origin: str
    verifier_key: str
    size: int = Field(ge=1)
    checkpoint: str
    entries: list[_CustodyEntry]


class _SignerJson(_Strict):
    state: str
    kid: str
    jwk: dict[str, str]
    card: str
    directory: str | None
    authority: dict[str, str] | None


class _ListedMember(_Strict):
    name: str
    size: int
    sha256: str


class _Contents(_Strict):
    type: Literal["hanoinet-package-contents"]
    v: Literal[1]
    package: str
    created_at: str
    signer: dict[str, str]
    members: list[_ListedMember]


def _shape_problem(package: dict[str, Any], custody: dict[str, Any], signer: dict[str, Any]) -> str | None:
    """Why the metadata members do not have the shape this version writes, or None."""
    for member, model, value in (("package.json", _PackageJson, package), ("custody.json", _CustodyJson, custody),
                                 ("signer.json", _SignerJson, signer)):
        try:
            model.model_validate(value)
        except PydanticError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return f"{member} is not a {PACKAGE_TYPE} version 1 document: {where}: {first['msg']}"
    return None


def _json(metadata: Mapping[str, bytes], member: str) -> dict[str, Any]:
    data = metadata.get(member)
    try:
        value = json.loads(data or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Refused(f"{member} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Refused(f"{member} is not a JSON object")
    return value


def _signature(report: Report, members: list[Member], metadata: Mapping[str, bytes],
               package: dict[str, Any], signer: dict[str, Any]) -> MemberCard | None:
    """The signature over every member; returns the signer's self-signed card when the signature holds."""
    try:
        jwk = signer["jwk"]
        key = import_public_jwk(jwk, use="sig")
        fingerprint = thumbprint(jwk)
        report.signer_fingerprint = fingerprint
        report.signer_state = str(signer["state"])
        if signer.get("kid") != fingerprint:
            raise Refused(f"signer.json names key {signer.get('kid')} but holds key {fingerprint}")
        payload = jose.verify((metadata[SIGNATURE] or b"").decode("ascii"), key, typ=CONTENTS_TYP)
        contents = _Contents.model_validate_json(payload).model_dump()
        card = verify_card(str(signer["card"]))
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:  # pydantic's error is a ValueError
        report.add("signature", SIGNATURE, False, f"signer.json or signature.jws is malformed: {exc}")
        return None
    except (HanoinetError, Refused) as exc:
        report.add("signature", SIGNATURE, False, f"the signature does not hold: {exc}")
        return None
    listed = [(m["name"], m["size"], m["sha256"]) for m in contents["members"]]
    actual = [(m.name, m.size, m.sha256) for m in members if m.name != SIGNATURE]
    problems = []
    if listed != actual:
        differing = next((f"{a[0]!r}" for a, b in zip(actual, listed, strict=False) if a != b),
                         f"{len(actual)} members present, {len(listed)} signed")
        problems.append(f"the signed member list does not match the package (first difference: {differing})")
    if contents.get("package") != package.get("id") or contents.get("created_at") != package.get("created_at"):
        problems.append("the signed package id or time differs from package.json")
    if contents.get("signer") != {"state": report.signer_state, "kid": report.signer_fingerprint}:
        problems.append("the signed signer differs from signer.json")
    if card.state != report.signer_state or card.key(report.signer_fingerprint or "") is None:
        problems.append(f"the signer's member card ({card.state}) does not list the signing key")
    if package.get("sender") != report.signer_state:
        problems.append(f"package.json names sender {package.get('sender')} but {report.signer_state} signed it")
    if problems:
        report.add("signature", SIGNATURE, False, "; ".join(problems))
        return None
    report.add("signature", SIGNATURE, True,
               f"Ed25519 JWS by {report.signer_state} key {report.signer_fingerprint} over the name, size and "
               f"SHA-256 of all {len(actual)} other members; every member's SHA-256 recomputed and equal")
    return card


def _files(report: Report, members: list[Member], package: dict[str, Any]) -> None:
    present = [m for m in members if m.name.startswith("files/")]
    described = package.get("files", [])
    if not isinstance(described, list) or len(described) != len(present):
        report.add("files", "package.json", False, f"package.json lists {len(described)} files, the package holds "
                   f"{len(present)}")
        return
    for member, entry in zip(present, described, strict=True):
        ok = (isinstance(entry, dict) and entry.get("path") == member.name and entry.get("size") == member.size
              and entry.get("sha256") == member.sha256)
        detail = (f"SHA-256 {member.sha256}, {member.size} bytes, as recorded at ingest" if ok else
                  f"recorded {entry.get('sha256') if isinstance(entry, dict) else '?'} / "
                  f"{entry.get('size') if isinstance(entry, dict) else '?'} bytes, found {member.sha256} / "
                  f"{member.size} bytes")
        report.add("file hash", member.name, ok, detail)


def _manifest(report: Report, package: dict[str, Any], manifest: dict[str, Any]) -> None:
    hashes = set(_hash_values(manifest))
    files = package.get("files", [])
    missing = [f.get("path") for f in files if isinstance(f, dict) and str(f.get("sha256", "")).lower() not in hashes]
    report.add("manifest", "manifest.jsonld", not missing,
               "CASE/UCO manifest names the SHA-256 of every file" if not missing
               else f"the manifest does not name the SHA-256 of {', '.join(map(str, missing))}")


def _hash_values(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("hashValue"):
                text = item.get("@value") if isinstance(item, dict) else item
                if isinstance(text, str):
                    yield text.lower()
            else:
                yield from _hash_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _hash_values(item)


def _custody(report: Report, package: dict[str, Any], custody: dict[str, Any], card: MemberCard,
             directory: Directory | None) -> None:
    """Every custody record against the signed checkpoint; witnesses only with keys from a trusted directory."""
    state = card.state
    log_keys = [Verifier(name=origin_of(state), public_key=jose.b64url_decode(k.jwk["x"])).vkey
                for k in card.keys if k.use == "sig"]
    witness_keys = [CosignatureVerifier(name=witness_name(m.state), public_key=jose.b64url_decode(k.jwk["x"])).vkey
                    for m in (directory.members() if directory is not None else []) if m.state != state
                    for k in m.keys if k.use == "sig"]
    if custody.get("origin") != origin_of(state):
        report.add("custody", "custody.json", False, f"the log is {custody.get('origin')!r}, not {state}'s")
        return
    hashes = {f["sha256"] for f in package["files"]}
    by_id = {f["file_id"]: f for f in package["files"]}
    sealed: set[str] = set()
    verified = None
    for entry in custody["entries"]:
        bundle = {"origin": custody["origin"], "verifier_key": custody["verifier_key"],
                  "checkpoint": custody["checkpoint"], "size": custody["size"], **entry}
        subject = f"custody entry {entry['index']}"
        try:
            verified = verify_bundle(bundle, log_keys, witnesses=witness_keys)
        except (HanoinetError, KeyError, TypeError, ValueError) as exc:
            report.add("custody", subject, False, f"does not verify: {exc}")
            continue
        event = verified.event
        if event is None:
            report.add("custody", subject, False, "the record is missing")
            continue
        if event.object_sha256 not in hashes:
            report.add("custody", subject, False, f"the record ({event.action}) is about an object that is not a file "
                       "of this package")
            continue
        # By file id: two files of a package may have the same content, and each has its own sealing record.
        described = by_id.get(str(event.detail.get("file")))
        if (event.action == "sealed" and described is not None and described["sha256"] == event.object_sha256
                and event.detail.get("package") == package["id"] and event.at == package["created_at"]):
            sealed.add(described["path"])
        report.add("custody", subject, True, f"{event.action} at {event.at} by {event.actor} ({event.node}): record "
                   f"hashes to the entry; inclusion proof to the checkpoint of size {verified.checkpoint.size} holds")
    if verified is None:
        report.add("custody", "custody.json", False, "no custody record verifies")
        return
    report.add("checkpoint", f"{custody['origin']} size {verified.checkpoint.size}", True,
               f"signed by {state}'s log key; root {verified.checkpoint.root_hash.hex()}")
    for item in package["files"]:
        path = item["path"]
        report.add("sealed", path, path in sealed,
                   "the log records this file sealed into this package at its sealing time" if path in sealed
                   else "no custody record of this file being sealed into this package at its sealing time")
    _witnesses(report, package, custody, verified.cosignatures, directory)


def _witnesses(report: Report, package: dict[str, Any], custody: dict[str, Any],
               cosignatures: Sequence[Cosignature], directory: Directory | None) -> None:
    claimed = sum(1 for line in str(custody["checkpoint"]).splitlines() if "/witness " in line)
    if not cosignatures:
        if claimed and directory is None:
            report.warnings.append(f"the checkpoint carries {claimed} witness cosignature(s), but the keys to check "
                                   "them would come from the package itself: verify again with --trust and the "
                                   "Secretariat's key fingerprint to count them")
        report.warnings.append("the checkpoint is not witnessed: no other State's cosignature could be verified, "
                               "so nothing independent of the signer shows when these records were logged")
        return
    report.witnesses = sorted(c.name.split("/")[1] for c in cosignatures)
    earliest = min(c.timestamp for c in cosignatures)
    created = parse_instant(str(package["created_at"]))
    try:
        witnessed = datetime.fromtimestamp(earliest, UTC)
    except (OverflowError, OSError, ValueError):
        report.add("witnesses", "checkpoint", False, f"a cosignature time ({earliest}) is not a real date")
        return
    report.witnessed_before = format_instant(witnessed)
    # A witness cosigns after the sealing records were logged; an earlier cosignature means a false time.
    ok = witnessed >= created - CLOCK_SKEW
    report.add("witnesses", "checkpoint", ok,
               f"cosigned by {', '.join(report.witnesses)}: the records were in the log no later than "
               f"{report.witnessed_before}" if ok else
               f"cosigned at {report.witnessed_before}, before the package says it was sealed "
               f"({package['created_at']})")


def _trusted_directory(signer: dict[str, Any], trust: Sequence[str]) -> Directory | None:
    """The directory the package carries, if signed by an authority key among the trusted ones."""
    compact, authority = signer.get("directory"), signer.get("authority")
    if not isinstance(compact, str) or not isinstance(authority, dict):
        return None
    try:
        key = import_public_jwk(authority, use="sig")
        if str(key.thumbprint()) not in trust:
            return None
        return Directory.verify(compact, authority, grace=DIRECTORY_GRACE)
    except (HanoinetError, ValueError, TypeError):
        return None


def _anchor(report: Report, package: dict[str, Any], signer: dict[str, Any], card: MemberCard, *,
            trust: Sequence[str], directory: Directory | None) -> None:
    fingerprint = report.signer_fingerprint or ""
    if not trust:
        report.warnings.append(f"the signer is not anchored: key {fingerprint} signed this package as {card.state}, "
                               f"but no trusted key was given, so nobody has shown that this key belongs to "
                               f"{card.state}")
        return
    if fingerprint in trust:
        report.anchored_by = fingerprint
        report.add("anchor", f"signer {card.state}", True, f"the signing key {fingerprint} is a trusted key")
        return
    if directory is None:
        carried = _carried_authority(signer)
        report.add("anchor", f"signer {card.state}", False,
                   f"neither the signing key {fingerprint} nor the authority key of a valid directory in the package "
                   + (f"(the package's directory names authority key {carried}) " if carried else "")
                   + f"is among the trusted keys ({', '.join(trust)})")
        return
    authority_fingerprint = directory.document.authority.kid
    try:
        created = parse_instant(str(package.get("created_at")))
        issued = parse_instant(directory.document.issued_at)
        if not issued <= created <= parse_instant(directory.document.expires_at) + DIRECTORY_GRACE:
            raise Refused(f"the package was signed at {format_instant(created)}, outside the validity of directory "
                           f"version {directory.version} ({directory.document.issued_at} to "
                           f"{directory.document.expires_at})")
        directory.verification_key(card.state, fingerprint, created)
    except (HanoinetError, Refused) as exc:
        report.add("anchor", f"signer {card.state}", False,
                   f"the directory signed by the trusted authority key {authority_fingerprint} does not vouch for the "
                   f"signing key {fingerprint}: {exc}")
        return
    report.anchored_by = authority_fingerprint
    report.add("anchor", f"signer {card.state}", True,
               f"directory version {directory.version}, signed by the trusted authority key {authority_fingerprint}, "
               f"lists {card.state}'s key {fingerprint} as valid when the package was signed")


def _carried_authority(signer: dict[str, Any]) -> str | None:
    """The fingerprint of the authority key the package itself carries, if it is a key at all."""
    try:
        return str(import_public_jwk(signer.get("authority"), use="sig").thumbprint())
    except (HanoinetError, ValueError, TypeError):
        return None
