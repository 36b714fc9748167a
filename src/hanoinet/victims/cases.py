"""Victims' cases: images submitted for removal as hashes, followed and withdrawn with a number and a secret.

A victim of intimate images shared without consent (Convention, Art. 16), or an advocate for them or for a child
(Art. 14), asks for the images to be removed everywhere (Art. 34). The images are hashed on the victim's own
device; only the PDQ hashes and their quality reach the node. Each image becomes one entry of the hash bank
(:mod:`hanoinet.hashbank.bank`), which every member State's node receives and serves to its platforms.

The case is what links the entries to the person, and it stays at this node: a number such as ``BRA-7K3M-Q9XD``
and a secret shown once, nothing that identifies anyone (no name, address or e-mail; the client's address is
used for rate limiting in memory, never stored). With both, the victim reads the status of their images per
platform and per country, or withdraws them. The rules for the secret (docs/victims.md, "Cases and secrets"):

- only its SHA-256 is stored, compared in constant time;
- an unknown number and a wrong secret are refused alike (``case_not_found_or_wrong_secret``);
- five wrong secrets in a row lock the case for 15 minutes, each further five for twice as long (at most a
  day); while locked even the right secret is refused (``case_locked``), and a right secret resets the count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import clock
from hanoinet.clock import format_instant
from hanoinet.db.database import Database
from hanoinet.db.models import HashEntry, TakedownStatus, VictimCase, VictimImage
from hanoinet.errors import HanoinetError, Unauthenticated, ValidationError
from hanoinet.hashbank import bank, kinds, pdq
from hanoinet.node import audit
from hanoinet.victims.languages import LANGUAGES

T = TypeVar("T")

#: Characters of case numbers and secrets: digits and capital letters without 0, O, 1 and I, which are
#: easily confused when read aloud or copied by hand. 32 characters: 5 bits each.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#: Random characters of a case number after the State code: 40 bits, far beyond guessing at the rate limit.
NUMBER_LENGTH = 8
#: A secret is 5 groups of 4 characters: 100 random bits, read aloud group by group.
SECRET_GROUPS = 5
SECRET_GROUP_LENGTH = 4
SECRET_LENGTH = SECRET_GROUPS * SECRET_GROUP_LENGTH
#: Images per case: a victim's set of images, while keeping one submission a small transaction.
MAX_IMAGES = 100
#: Wrong secrets in a row before the case locks.
MAX_FAILURES = 5
#: The first lock; each further run of MAX_FAILURES wrong secrets doubles it, up to LONGEST_LOCK, so that someone
#: who knows a number cannot keep the victim out for more than a day at a time.
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(hours=24)
#: ``created_by`` of a case submitted by the victim through the public page.
VICTIM = "victim"

#: Separators a person may type or a phone may substitute inside a number or a secret: hyphens and dashes.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2212")
_STATE_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SECRET_HINT = (f"the secret is {SECRET_LENGTH} letters and digits, written in {SECRET_GROUPS} groups of "
                f"{SECRET_GROUP_LENGTH} (it has no 0, O, 1 or I); spaces, hyphens and case do not matter")
_NUMBER_HINT = ("a case number is the State's three-letter code and 8 letters and digits, like BRA-7K3M-Q9XD "
                "(it has no 0, O, 1 or I)")
# Compared against when the number is unknown, so that the comparison is made for both refusals.
_DUMMY_DIGEST = hashlib.sha256(b"no such case").hexdigest()

Outcome = Literal["open", "wrong", "locked"]


@dataclass(frozen=True, slots=True)
class SubmittedImage:
    """One image as its hashes: the 8 dihedral PDQ hashes in :data:`pdq.DIHEDRAL_ORDER`, or at least the first
    (the image as given), and the hasher's quality."""

    hashes: Sequence[str]
    quality: int | str


@dataclass(frozen=True, slots=True)
class Created:
    """A new case: its number and its secret, which is shown this once and never stored."""

    number: str
    secret: str
    category: str
    language: str
    images: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Takedown:
    """What one platform in one country did about one image (filled in by the takedown workflow)."""

    state: str
    platform: str
    status: str
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ImageStatus:
    """One image of a case: ``active`` (platforms act on it) or ``withdrawn``, and the platforms' takedowns."""

    position: int
    status: str
    withdrawn_at: datetime | None
    takedowns: list[Takedown]


@dataclass(frozen=True, slots=True)
class CaseStatus:
    """What the victim sees of their case, and nothing of any other."""

    number: str
    category: str
    language: str
    created_at: datetime
    images: list[ImageStatus]

    def as_json(self) -> dict[str, object]:
        """The JSON the status page and ``hanoinet victims status --json`` show."""
        return {
            "number": self.number, "category": self.category, "language": self.language,
            "created_at": format_instant(self.created_at),
            "images": [{
                "position": image.position, "status": image.status,
                "withdrawn_at": format_instant(image.withdrawn_at) if image.withdrawn_at else None,
                "takedowns": [{"state": t.state, "platform": t.platform, "status": t.status, "reason": t.reason,
                               "updated_at": format_instant(t.updated_at)} for t in image.takedowns],
            } for image in self.images],
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one attempt at a case's secret, and the case's counter and lock after it."""

    outcome: Outcome
    failed_attempts: int
    locked_until: datetime | None


class CaseLocked(HanoinetError):
    """Too many wrong secrets: the case refuses every secret, the right one too, until ``retry_at``."""

    code = "case_locked"
    http_status = 429

    def __init__(self, retry_at: datetime) -> None:
        super().__init__(
            f"this case is locked after too many wrong secrets, until {format_instant(retry_at)}",
            hint="wait until then and enter the secret again; check each group of the secret carefully")
        self.retry_at = retry_at


# -- categories, languages, numbers and secrets ---------------------------------------------------------------


def category_for(category: str | None = None, *, about_a_child: bool | None = None) -> str:
    """The bank category from the answers a person gives: anything about a child is ``art14`` (Art. 14).

    ``about_a_child`` is the plain-words question ("does any image show someone under 18?"); ``category``
    (``art14``/``art16``) is what an advocate may name directly. A child overrides ``art16``; without a child,
    the images are intimate images shared without consent (``art16``) unless ``art14`` is named.
    """
    named = bank.check_category(category) if category is not None else None
    if about_a_child:
        return "art14"
    if named is not None:
        return named
    if about_a_child is False:
        return "art16"
    raise ValidationError("the images' category is missing",
                          hint="say whether any image shows someone under 18 (about_a_child), or give the "
                          "category: art14 (a child) or art16 (an adult's intimate images)", code="bad_category")


def check_language(value: object) -> str:
    """A language of the status page (``ar``, ``en``, ``es``, ``fr``, ``ru``, ``vi``, ``zh``), in lower case."""
    language = value.strip().lower() if isinstance(value, str) else value
    if language not in LANGUAGES:
        raise ValidationError(f"language {value!r} is not one of the status page's languages",
                              hint=f"choose one of: {', '.join(LANGUAGES)}", code="bad_language")
    return str(language)


def _compact(text: object) -> str | None:
    """``text`` in upper-case ASCII without spaces and dashes, or None if it holds anything else.

    NFKC first, so the full-width letters and digits of Chinese and Japanese input methods count as ASCII.
    """
    if not isinstance(text, str):
        return None
    kept = "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace() and c not in _DASHES)
    return kept.upper() if kept.isascii() else None


def normalise_secret(text: object) -> str:
    """The secret as stored (hashed): its 20 characters in upper case; ``bad_secret`` if it cannot be one."""
    kept = _compact(text)
    if kept is None or len(kept) != SECRET_LENGTH or any(c not in ALPHABET for c in kept):
        raise ValidationError("this is not a case secret", hint=_SECRET_HINT, code="bad_secret")
    return kept


def format_secret(secret: str) -> str:
    """``7K3M-Q9XD-...``: the secret in groups, as shown to the victim once."""
    kept = normalise_secret(secret)
    return "-".join(kept[i:i + SECRET_GROUP_LENGTH] for i in range(0, SECRET_LENGTH, SECRET_GROUP_LENGTH))


def normalise_number(text: object) -> str:
    """The case number in its one form, ``BRA-7K3M-Q9XD``; ``bad_case_number`` if it cannot be one."""
    kept = _compact(text)
    if (kept is None or len(kept) != 3 + NUMBER_LENGTH or any(c not in _STATE_LETTERS for c in kept[:3])
            or any(c not in ALPHABET for c in kept[3:])):
        raise ValidationError("this is not a case number", hint=_NUMBER_HINT, code="bad_case_number")
    return f"{kept[:3]}-{kept[3:7]}-{kept[7:]}"


def secret_digest(secret: str) -> str:
    """SHA-256 of the normalised secret, in hexadecimal: all the node keeps of it.

    The secret is 100 random bits, so a fast hash is enough to make a stolen database useless for opening
    cases (a slow password hash only matters for low-entropy secrets a person chooses).
    """
    return hashlib.sha256(normalise_secret(secret).encode("ascii")).hexdigest()


def new_secret() -> str:
    """A fresh secret, grouped for reading aloud."""
    return format_secret("".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH)))


def _new_number(session: Session, state: str) -> str:
    # 40 random bits: a repeat is all but impossible, but a number must never name two cases.
    while True:
        tail = "".join(secrets.choice(ALPHABET) for _ in range(NUMBER_LENGTH))
        number = f"{state}-{tail[:4]}-{tail[4:]}"
        if session.scalar(select(VictimCase.id).where(VictimCase.number == number)) is None:
            return number


# -- the lock --------------------------------------------------------------------------------------------------


def lock_after(failed_attempts: int) -> timedelta | None:
    """How long the case locks once it has had ``failed_attempts`` wrong secrets in a row, if at all.

    Every fifth: 15 minutes at the 5th, 30 at the 10th, 60 at the 15th, ..., at most 24 hours.
    """
    if failed_attempts <= 0 or failed_attempts % MAX_FAILURES:
        return None
    # The exponent is capped only to keep the arithmetic small; 2**7 lock periods already exceed a day.
    doublings = min(failed_attempts // MAX_FAILURES - 1, 16)
    return min(FIRST_LOCK * (1 << doublings), LONGEST_LOCK)


def judge(failed_attempts: int, locked_until: datetime | None, correct: bool, now: datetime) -> Verdict:
    """The outcome of one attempt, and the counter and lock after it.

    While locked, every attempt is refused and changes nothing: the answer must not depend on the secret,
    or the lock would not stop guessing. A right secret resets the count; a wrong one adds to it and may lock.
    """
    if locked_until is not None and now < locked_until:
        return Verdict("locked", failed_attempts, locked_until)
    if correct:
        return Verdict("open", 0, None)
    failed_attempts += 1
    lock = lock_after(failed_attempts)
    if lock is None:
        return Verdict("wrong", failed_attempts, None)
    return Verdict("locked", failed_attempts, now + lock)


def _not_found() -> Unauthenticated:
    return Unauthenticated(
        "no case with this number and secret",
        hint="check the case number and the secret you were given (case numbers begin with the code of the "
        "State whose node holds the case); after 5 wrong secrets the case locks for a while",
        code="case_not_found_or_wrong_secret")


# -- cases -----------------------------------------------------------------------------------------------------


def _checked(position: int, image: SubmittedImage) -> tuple[str, int]:
    """The image's first hash and its quality, after checking every hash it came with."""
    hashes = list(image.hashes) if isinstance(image.hashes, (list, tuple)) else []
    if not 1 <= len(hashes) <= len(pdq.DIHEDRAL_ORDER):
        raise ValidationError(f"image {position}: {len(hashes)} hashes; an image has 1 to 8",
                              hint="send the image's PDQ hashes in the order of its rotations and flips, the "
                              "image as given first", code="bad_hash")
    for variant, code in enumerate(hashes):
        try:
            kinds.PDQ.parse(code)
        except ValidationError as exc:
            raise ValidationError(f"image {position}, hash {variant + 1} ({pdq.DIHEDRAL_ORDER[variant]}): "
                                  f"{exc.message}", hint=exc.hint, code=exc.code) from None
    try:
        quality = kinds.PDQ.require_quality(image.quality)
    except ValidationError as exc:
        raise ValidationError(f"image {position}: {exc.message}", hint=exc.hint, code=exc.code) from None
    # Only the image as given goes to the bank: platforms match the eight rotations and flips of every upload
    # against it (docs/hashbank.md, 5.2), so a rotated copy is found without storing the variants.
    return hashes[0], quality


def create(session: Session, origin: str, *, category: str, language: str, images: Sequence[SubmittedImage],
           created_by: str) -> Created:
    """Open a case for ``images`` at this node (``origin`` is its State): one bank entry per image.

    The entries go to every member State as the bank's own (validated, logged, replicated); the case, with
    the secret's SHA-256 only, stays here. Every image is checked before anything is written, and an error
    names the image. ``created_by`` is :data:`VICTIM` or the officer or operator who submitted for the victim.
    """
    category = bank.check_category(category)
    language = check_language(language)
    if not images:
        raise ValidationError("no images in the case", hint="pick at least one image", code="no_images")
    if len(images) > MAX_IMAGES:
        raise ValidationError(f"{len(images)} images in one case; at most {MAX_IMAGES}",
                              hint="open several cases", code="too_many_images")
    checked = [_checked(position, image) for position, image in enumerate(images, start=1)]
    entries = bank.add(session, origin, [bank.NewHash(hash=code, quality=quality, category=category)
                                         for code, quality in checked], actor=created_by)
    secret = new_secret()
    case = VictimCase(number=_new_number(session, origin), secret_sha256=secret_digest(secret), category=category,
                      language=language, created_at=clock.now(), created_by=created_by, failed_attempts=0,
                      locked_until=None)
    session.add(case)
    session.flush()
    session.add_all(VictimImage(case_id=case.id, position=position, entry_row=entry.row)
                    for position, entry in enumerate(entries, start=1))
    audit.record(session, actor=created_by, action="victims.case.create", target=f"victim_case:{case.id}",
                 detail={"images": len(entries), "category": category})
    return Created(number=case.number, secret=secret, category=category, language=language, images=len(entries),
                   created_at=case.created_at)


def open_case(session: Session, number: str, secret: str, *, now: datetime) -> VictimCase:
    """The case with this number and secret, counting a wrong secret against the case (see :func:`judge`).

    Refusals: ``bad_case_number`` or ``bad_secret`` (422) for what cannot be a number or a secret, before any
    case is looked at; ``case_not_found_or_wrong_secret`` (401) alike for an unknown number and a wrong secret;
    :class:`CaseLocked` (``case_locked``, 429). A refusal leaves the case's new count in ``session``: the
    caller commits before reporting it, as :func:`with_open_case` does.
    """
    wanted = normalise_number(number)
    given = secret_digest(secret)
    case = session.scalar(select(VictimCase).where(VictimCase.number == wanted).with_for_update())
    if case is None:
        hmac.compare_digest(given, _DUMMY_DIGEST)
        raise _not_found()
    verdict = judge(case.failed_attempts, case.locked_until, hmac.compare_digest(given, case.secret_sha256), now)
    if verdict.locked_until is not None and verdict.locked_until != case.locked_until:
        audit.record(session, actor="system", action="victims.case.lock", target=f"victim_case:{case.id}",
                     detail={"failed_attempts": verdict.failed_attempts,
                             "until": format_instant(verdict.locked_until)})
    case.failed_attempts, case.locked_until = verdict.failed_attempts, verdict.locked_until
    session.flush()
    if verdict.outcome == "open":
        return case
    if verdict.locked_until is not None:
        raise CaseLocked(verdict.locked_until)
    raise _not_found()


def with_open_case(database: Database, number: str, secret: str, act: Callable[[Session, VictimCase], T]) -> T:
    """Open the case and ``act`` on it in one transaction; a refused secret is committed, then raised.

    Committing the refusal is what makes wrong secrets count towards the lock even though the caller fails.
    """
    with database.transaction() as uow:
        try:
            case = open_case(uow.session, number, secret, now=clock.now())
        except (Unauthenticated, CaseLocked) as exc:
            refused = exc
        else:
            return act(uow.session, case)
    raise refused


def _images(session: Session, case: VictimCase) -> list[tuple[VictimImage, HashEntry]]:
    return [(image, entry) for image, entry in session.execute(
        select(VictimImage, HashEntry).join(HashEntry, HashEntry.id == VictimImage.entry_row)
        .where(VictimImage.case_id == case.id).order_by(VictimImage.position))]


def status(session: Session, case: VictimCase) -> CaseStatus:
    """Each image of ``case`` with its status and what each platform, in each country, did about it."""
    images = _images(session, case)
    takedowns: dict[int, list[Takedown]] = {}
    for row in session.scalars(select(TakedownStatus)
                               .where(TakedownStatus.entry_row.in_([entry.id for _, entry in images]))
                               .order_by(TakedownStatus.state, TakedownStatus.platform)):
        takedowns.setdefault(row.entry_row, []).append(Takedown(
            state=row.state, platform=row.platform, status=row.status, reason=row.reason, updated_at=row.updated_at))
    return CaseStatus(number=case.number, category=case.category, language=case.language, created_at=case.created_at,
                      images=[ImageStatus(position=image.position, status=entry.status,
                                          withdrawn_at=entry.withdrawn_at, takedowns=takedowns.get(entry.id, []))
                              for image, entry in images])


def withdraw(session: Session, origin: str, case: VictimCase, positions: Sequence[int] | None, *,
             actor: str) -> CaseStatus:
    """Withdraw the images at ``positions`` (None: every image) from the bank, here and at every member State.

    Withdrawing an image already withdrawn changes nothing. Returns the case's status afterwards.
    """
    images = _images(session, case)
    by_position = {image.position: entry for image, entry in images}
    if positions is None:
        wanted = list(by_position)
    else:
        if not positions:
            raise ValidationError("no images named to withdraw",
                                  hint="name images by their numbers, or ask to withdraw every image",
                                  code="bad_position")
        wanted = list(dict.fromkeys(positions))
        unknown = [p for p in wanted if p not in by_position]
        if unknown:
            raise ValidationError(f"this case has no image {unknown[0]}",
                                  hint=f"its images are numbered 1 to {len(by_position)}", code="bad_position")
    active = [by_position[p].entry_id for p in wanted if by_position[p].status == "active"]
    if active:
        bank.withdraw(session, origin, active, actor=actor)
        audit.record(session, actor=actor, action="victims.case.withdraw", target=f"victim_case:{case.id}",
                     detail={"images": len(active)})
    return status(session, case)
