"""Victims' cases: numbers and secrets, the lock, categories, and cases' entries in the bank, status and withdrawal."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import select

from hanoinet.clock import now
from hanoinet.db.database import Database
from hanoinet.db.models import AuditEntry, HashEntry, TakedownStatus, VictimCase, VictimImage
from hanoinet.errors import HanoinetError, Unauthenticated, ValidationError
from hanoinet.hashbank import bank
from hanoinet.victims import cases
from hanoinet.victims.cases import CaseLocked, SubmittedImage

NUMBER = re.compile(r"^VNM-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")
SECRET = re.compile(r"^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){4}$")
T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path, database_url: str) -> Iterator[Database]:
    database = Database(database_url or f"sqlite:///{tmp_path / 'victims.db'}")
    database.migrate()
    yield database
    database.dispose()


def image(quality: int = 90, variants: int = 8) -> SubmittedImage:
    return SubmittedImage(hashes=[secrets.token_hex(32) for _ in range(variants)], quality=quality)


def create(db: Database, images: list[SubmittedImage] | None = None, **overrides: str) -> cases.Created:
    arguments = {"category": "art16", "language": "en", "created_by": cases.VICTIM, **overrides}
    with db.transaction() as uow:
        return cases.create(uow.session, "VNM", images=[image()] if images is None else images, **arguments)


def attempt(db: Database, number: str, secret: str, at: datetime) -> VictimCase:
    """One attempt in its own transaction, committed even when refused (as with_open_case does)."""
    refused: HanoinetError | None = None
    with db.transaction() as uow:
        try:
            case = cases.open_case(uow.session, number, secret, now=at)
            uow.session.expunge(case)
            return case
        except (Unauthenticated, CaseLocked) as exc:
            refused = exc
    raise refused


def wrong(secret: str) -> str:
    """Another valid secret."""
    other = secret
    while other == secret:
        other = cases.new_secret()
    return other


# -- numbers, secrets, categories, languages (pure) ------------------------------------------------------------


def test_a_new_secret_holds_100_random_bits_in_five_groups() -> None:
    made = {cases.new_secret() for _ in range(200)}
    assert len(made) == 200
    assert all(SECRET.fullmatch(s) for s in made)
    assert len(cases.ALPHABET) == 32 and not set("0O1I") & set(cases.ALPHABET)
    assert cases.SECRET_LENGTH * 5 >= 100


separators = st.lists(st.sampled_from([" ", "-", "\u2013", "\u2011", "\t", "  "]), max_size=3).map("".join)


@given(raw=st.text(alphabet=cases.ALPHABET, min_size=20, max_size=20), data=st.data())
def test_a_secret_is_read_back_whatever_its_case_spacing_and_hyphens(raw: str, data: st.DataObject) -> None:
    typed = "".join(data.draw(separators) + (c.lower() if data.draw(st.booleans()) else c) for c in raw)
    typed += data.draw(separators)
    assert cases.normalise_secret(typed) == raw
    assert cases.secret_digest(typed) == hashlib.sha256(raw.encode()).hexdigest()
    assert cases.normalise_secret(cases.format_secret(typed)) == raw
    # Full-width characters, as a Chinese or Japanese input method types them.
    assert cases.normalise_secret("".join(chr(ord(c) + 0xFEE0) for c in raw)) == raw


@given(raw=st.text(alphabet=cases.ALPHABET, min_size=20, max_size=20), position=st.integers(0, 19),
       char=st.sampled_from("0O1Io!é_ß"))
def test_a_character_no_secret_has_is_refused_before_any_case_is_looked_at(raw: str, position: int,
                                                                          char: str) -> None:
    with pytest.raises(ValidationError) as caught:
        cases.normalise_secret(raw[:position] + char + raw[position + 1:])
    assert caught.value.code == "bad_secret" and "no 0, O, 1 or I" in caught.value.hint


@pytest.mark.parametrize("text", ["", "ABCD", "2" * 19, "2" * 21, None, 42])
def test_a_secret_of_the_wrong_length_or_type_is_refused(text: object) -> None:
    with pytest.raises(ValidationError, match="not a case secret"):
        cases.normalise_secret(text)


@pytest.mark.parametrize(("typed", "number"), [
    ("VNM-7K3M-Q9XD", "VNM-7K3M-Q9XD"), ("vnm 7k3m q9xd", "VNM-7K3M-Q9XD"), ("VNM7K3MQ9XD", "VNM-7K3M-Q9XD"),
    (" ind\u20132222-ZZZZ ", "IND-2222-ZZZZ"),
])
def test_case_numbers_are_read_in_any_case_and_spacing(typed: str, number: str) -> None:
    assert cases.normalise_number(typed) == number


@pytest.mark.parametrize("typed", ["VNM-7K3M-Q9X", "VNM-7K3M-Q9X0", "V1M-7K3M-Q9XD", "VNM-7K3M-Q9XDD", "", "Ж"])
def test_what_cannot_be_a_case_number_is_refused_saying_what_one_looks_like(typed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        cases.normalise_number(typed)
    assert caught.value.code == "bad_case_number" and "BRA-7K3M-Q9XD" in caught.value.hint


@given(category=st.sampled_from([None, "art14", "art16"]))
def test_anything_about_a_child_is_art14(category: str | None) -> None:
    assert cases.category_for(category, about_a_child=True) == "art14"


def test_categories_in_plain_words_and_by_name() -> None:
    assert cases.category_for(about_a_child=False) == "art16"
    assert cases.category_for("art16") == "art16"
    assert cases.category_for("art14", about_a_child=False) == "art14", "a named art14 is never lowered"
    for category, child in ((None, None), ("adult", None), ("adult", False), ("adult", True)):
        with pytest.raises(ValidationError) as caught:
            cases.category_for(category, about_a_child=child)
        assert caught.value.code == "bad_category" and "art14" in caught.value.hint


@pytest.mark.parametrize(("given_", "language"), [("en", "en"), ("ZH", "zh"), (" vi ", "vi"), ("ar", "ar")])
def test_the_six_un_languages_and_vietnamese(given_: str, language: str) -> None:
    assert cases.check_language(given_) == language


@pytest.mark.parametrize("language", ["de", "english", "", None, "en-GB"])
def test_other_languages_are_refused_listing_the_ones_offered(language: object) -> None:
    with pytest.raises(ValidationError) as caught:
        cases.check_language(language)
    assert caught.value.code == "bad_language" and "ar, en, es, fr, ru, vi, zh" in caught.value.hint


# -- the lock (pure) -------------------------------------------------------------------------------------------


def test_the_lock_lasts_15_minutes_then_doubles_up_to_a_day() -> None:
    locks = {n: cases.lock_after(n) for n in range(0, 61)}
    assert {n for n, lock in locks.items() if lock} == set(range(5, 61, 5))
    assert [locks[n] for n in (5, 10, 15, 20)] == [timedelta(minutes=m) for m in (15, 30, 60, 120)]
    assert locks[40] == locks[60] == timedelta(hours=24)
    assert cases.lock_after(10**9) == timedelta(hours=24)


class Guessing(RuleBasedStateMachine):
    """Attempts at one case's secret, right or wrong, as time passes, against the rule as docs/victims.md says it:
    "five wrong secrets in a row lock the case for 15 minutes, each further five for twice as long (at most a
    day); while locked every secret is refused and not counted; a right secret resets the count"."""

    def __init__(self) -> None:
        super().__init__()
        self.t = T0
        # The state under test, as the node stores it.
        self.failed: int = 0
        self.locked_until: datetime | None = None
        self.streak = 0  # the reference: wrong secrets since the last right one, counting the locked ones out
        self.locks = 0
        self.reference_until: datetime | None = None

    @rule(minutes=st.integers(0, 3000))
    def wait(self, minutes: int) -> None:
        self.t += timedelta(minutes=minutes)

    @rule(correct=st.booleans())
    def attempt(self, correct: bool) -> None:
        verdict = cases.judge(self.failed, self.locked_until, correct, self.t)
        other = cases.judge(self.failed, self.locked_until, not correct, self.t)
        if self.reference_until is not None and self.t < self.reference_until:
            assert verdict.outcome == "locked" and verdict == other, "while locked, the secret makes no difference"
        elif correct:
            assert verdict.outcome == "open"
            self.streak, self.locks, self.reference_until = 0, 0, None
        else:
            self.streak += 1
            if self.streak % 5 == 0:
                self.locks += 1
                self.reference_until = self.t + min(timedelta(minutes=15) * 2 ** (self.locks - 1),
                                                    timedelta(days=1))
                assert verdict.outcome == "locked"
            else:
                assert verdict.outcome == "wrong"
        self.failed, self.locked_until = verdict.failed_attempts, verdict.locked_until

    @invariant()
    def agrees_with_the_reference(self) -> None:
        assert self.failed == self.streak
        if self.reference_until is not None and self.t < self.reference_until:
            assert self.locked_until == self.reference_until


TestGuessing = Guessing.TestCase
TestGuessing.settings = settings(max_examples=200, stateful_step_count=60)


# -- cases in the database -------------------------------------------------------------------------------------


def test_a_case_adds_one_bank_entry_per_image_and_keeps_only_the_secrets_hash(db: Database) -> None:
    images = [image(), image(variants=1), image(quality=50)]
    created = create(db, images, category="art14", language="fr")
    assert NUMBER.fullmatch(created.number) and SECRET.fullmatch(created.secret)
    assert (created.category, created.language, created.images) == ("art14", "fr", 3)
    with db.transaction(readonly=True) as uow:
        case = uow.session.scalars(select(VictimCase)).one()
        rows = uow.session.execute(select(VictimImage, HashEntry).join(HashEntry, HashEntry.id == VictimImage.entry_row)
                                   .order_by(VictimImage.position)).all()
        changes = bank.changes_after(uow.session, 0, 100)
        actions = [a.action for a in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert case.secret_sha256 == hashlib.sha256(created.secret.replace("-", "").encode()).hexdigest()
    assert (case.number, case.category, case.language, case.created_by, case.failed_attempts) == (
        created.number, "art14", "fr", "victim", 0)
    assert [(i.position, e.hash, e.quality, e.category, e.origin, e.status) for i, e in rows] == [
        (p, im.hashes[0], im.quality, "art14", "VNM", "active") for p, im in enumerate(images, start=1)]
    assert [(c.op, c.entry.entry_id) for c in changes] == [("add", e.entry_id) for _, e in rows], \
        "logged, hence sent to every member State"
    assert actions == ["hashbank.add", "victims.case.create"]


def test_the_database_never_holds_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    created = create(database)
    database.dispose()
    stored = path.read_bytes()
    assert created.secret.encode() not in stored and created.secret.replace("-", "").encode() not in stored
    assert created.number.encode() in stored


def test_case_numbers_are_unique(db: Database) -> None:
    numbers = {create(db).number for _ in range(20)}
    assert len(numbers) == 20


@pytest.mark.parametrize(("images", "code", "words"), [
    ([], "no_images", "no images"),
    ([image()] * 101, "too_many_images", "at most 100"),
    ([image(), image(quality=49)], "low_quality", "image 2: PDQ quality 49"),
    ([image(), SubmittedImage(hashes=["ab" * 32, "zz" * 32], quality=90)], "bad_hash",
     "image 2, hash 2 (rotate_90)"),
    ([SubmittedImage(hashes=["ab" * 32] * 9, quality=90)], "bad_hash", "image 1: 9 hashes"),
    ([SubmittedImage(hashes=[], quality=90)], "bad_hash", "image 1: 0 hashes"),
    ([SubmittedImage(hashes=["ab" * 32], quality="high")], "bad_quality", "image 1"),
])
def test_bad_images_are_refused_naming_the_image_and_nothing_is_written(
        db: Database, images: list[SubmittedImage], code: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        create(db, images)
    assert caught.value.code == code and words in caught.value.message
    with db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(VictimCase)).all() == []
        assert bank.head(uow.session)[0] == 0


def test_a_bad_language_or_category_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match="language 'de'"):
        create(db, language="de")
    with pytest.raises(ValidationError) as caught:
        create(db, category="adult")
    assert caught.value.code == "bad_category"


def test_an_unknown_number_and_a_wrong_secret_are_refused_alike(db: Database) -> None:
    created = create(db)
    refusals = []
    for number, secret in ((created.number, wrong(created.secret)), ("VNM-2222-2222", created.secret)):
        with pytest.raises(Unauthenticated) as caught:
            attempt(db, number, secret, T0)
        refusals.append((type(caught.value), caught.value.code, caught.value.message, caught.value.hint))
    assert refusals[0] == refusals[1]
    assert refusals[0][1] == "case_not_found_or_wrong_secret"


def test_the_right_secret_opens_the_case_however_it_is_typed(db: Database) -> None:
    created = create(db)
    typed = " " + created.secret.lower().replace("-", " ") + " "
    case = attempt(db, created.number.lower().replace("-", ""), typed, T0)
    assert case.number == created.number


def test_five_wrong_secrets_lock_the_case_even_for_the_right_one_and_success_resets(db: Database) -> None:
    created = create(db)
    bad = wrong(created.secret)
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            attempt(db, created.number, bad, T0)
    with pytest.raises(CaseLocked) as locked:
        attempt(db, created.number, bad, T0)
    assert locked.value.retry_at == T0 + timedelta(minutes=15) and locked.value.code == "case_locked"
    with pytest.raises(CaseLocked):
        attempt(db, created.number, created.secret, T0 + timedelta(minutes=14, seconds=59))
    case = attempt(db, created.number, created.secret, T0 + timedelta(minutes=15))
    assert (case.failed_attempts, case.locked_until) == (0, None)
    with db.transaction(readonly=True) as uow:
        assert "victims.case.lock" in uow.session.scalars(select(AuditEntry.action)).all()


def test_repeated_lockouts_double(db: Database) -> None:
    created = create(db)
    bad = wrong(created.secret)
    t = T0
    for expected in (15, 30, 60):
        for _ in range(4):
            with pytest.raises(Unauthenticated):
                attempt(db, created.number, bad, t)
        with pytest.raises(CaseLocked) as locked:
            attempt(db, created.number, bad, t)
        assert locked.value.retry_at == t + timedelta(minutes=expected)
        t = locked.value.retry_at


def test_with_open_case_commits_a_refusal_so_it_counts(db: Database) -> None:
    created = create(db)
    bad = wrong(created.secret)
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            cases.with_open_case(db, created.number, bad, cases.status)
    with pytest.raises(CaseLocked):
        cases.with_open_case(db, created.number, bad, cases.status)
    with pytest.raises(CaseLocked):
        cases.with_open_case(db, created.number, created.secret, cases.status)
    with db.transaction(readonly=True) as uow:
        case = uow.session.scalars(select(VictimCase)).one()
    assert case.failed_attempts == 5 and case.locked_until is not None and case.locked_until > now()


def test_status_shows_this_case_and_its_platforms_and_nothing_of_another(db: Database) -> None:
    mine = create(db, [image(), image()], language="vi")
    theirs = create(db, [image()])
    with db.transaction() as uow:
        rows = {(c.number, i.position): i.entry_row for c, i in uow.session.execute(
            select(VictimCase, VictimImage).join(VictimImage, VictimImage.case_id == VictimCase.id))}
        for (number, position), entry in rows.items():
            for state, platform in (("FRA", "Example Photos"), ("BRA", "Video Site")):
                uow.session.add(TakedownStatus(entry_row=entry, state=state, platform=platform,
                                               status=f"{number[-4:]}-{position}", reason=None, updated_at=T0))
    found = cases.with_open_case(db, mine.number, mine.secret, cases.status)
    assert (found.number, found.category, found.language) == (mine.number, "art16", "vi")
    assert [(i.position, i.status) for i in found.images] == [(1, "active"), (2, "active")]
    for shown in found.images:
        assert [(t.state, t.platform, t.status) for t in shown.takedowns] == [
            ("BRA", "Video Site", f"{mine.number[-4:]}-{shown.position}"),
            ("FRA", "Example Photos", f"{mine.number[-4:]}-{shown.position}")]
    assert theirs.number not in str(found.as_json()) and theirs.number[-4:] not in str(found.as_json())


def test_withdrawing_images_is_idempotent_and_logged_once(db: Database) -> None:
    created = create(db, [image(), image(), image()])

    def withdraw(positions: list[int] | None) -> cases.CaseStatus:
        return cases.with_open_case(db, created.number, created.secret,
                                    lambda s, c: cases.withdraw(s, "VNM", c, positions, actor="victim"))

    assert [i.status for i in withdraw([2, 2]).images] == ["active", "withdrawn", "active"]
    assert [i.status for i in withdraw([2]).images] == ["active", "withdrawn", "active"]
    after = withdraw(None)
    assert [i.status for i in after.images] == ["withdrawn"] * 3 and all(i.withdrawn_at for i in after.images)
    with db.transaction(readonly=True) as uow:
        ops = [c.op for c in bank.changes_after(uow.session, 0, 100)]
    assert ops == ["add"] * 3 + ["withdraw"] * 3
    withdraw(None)
    with db.transaction(readonly=True) as uow:
        assert bank.head(uow.session)[0] == 6


@pytest.mark.parametrize(("positions", "words"), [([4], "no image 4"), ([0], "no image 0"), ([], "no images named")])
def test_withdrawing_an_image_the_case_does_not_have_is_refused(db: Database, positions: list[int],
                                                                words: str) -> None:
    created = create(db, [image(), image(), image()])
    with pytest.raises(ValidationError) as caught:
        cases.with_open_case(db, created.number, created.secret,
                             lambda s, c: cases.withdraw(s, "VNM", c, positions, actor="victim"))
    assert caught.value.code == "bad_position" and words in caught.value.message
