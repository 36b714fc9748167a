"""Member cards, the signed directory, and the questions a node asks it."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pycountry
import pydantic
import pytest

from hanoinet import errors
from hanoinet.clock import format_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import DirectoryError, EnvelopeRefused
from hanoinet.network.directory import (
    CARD_TYP,
    DIRECTORY_TYP,
    Authority,
    Declaration,
    Desk,
    Directory,
    DirectoryDocument,
    MemberCard,
    check_endpoint,
    sign_card,
    sign_directory,
    verify_card,
)
from tests.factories import GRACE, T0, card, entry, member, signed_directory, verified_directory

#: Invalid model input surfaces as pydantic's error, or as ours when a field validator raises it directly.
INVALID = (pydantic.ValidationError, errors.ValidationError)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def vnm() -> Any:
    return member("VNM")


def card_json(vnm: Any) -> dict[str, Any]:
    return vnm.card.model_dump(mode="json")  # type: ignore[no-any-return]


# --- member cards ------------------------------------------------------------------------------------------


def test_a_valid_card(vnm: Any) -> None:
    assert MemberCard.model_validate(card_json(vnm)) == vnm.card
    assert vnm.card.key(vnm.sig.kid).use == "sig"
    assert vnm.card.key(vnm.enc.kid).use == "enc"
    assert vnm.card.key("nope") is None
    assert vnm.card.desk("CA").name == "Central authority"
    assert vnm.card.desk("XX") is None


def test_card_is_immutable_and_strict(vnm: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        vnm.card.name = "other"  # type: ignore[misc]
    with pytest.raises(INVALID):
        MemberCard.model_validate({**card_json(vnm), "v": "1"})


def _mutated(vnm: Any, path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(card_json(vnm)))
    target = data
    *parents, last = path.split(".")
    for step in parents:
        target = target[int(step)] if step.isdigit() else target[step]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("state", "vnm"),
        ("state", "VN"),
        ("state", "XXX"),
        ("state", 704),
        ("name", ""),
        ("name", "x" * 201),
        ("endpoint", "ftp://vnm.example.org"),
        ("endpoint", "vnm.example.org"),
        ("endpoint", "https://"),
        ("endpoint", "https://vnm example.org"),
        ("endpoint", "https://vnm.example.org\n"),
        ("issued_at", "2026-03-01T12:00:00+00:00"),
        ("issued_at", "yesterday"),
        ("signed_on", "2026-1-1"),
        ("ratified_on", "01/02/2026"),
        ("type", "hanoinet-directory"),
        ("v", 2),
        ("extra", "field"),
        ("desks", []),
        ("desks.0.id", "2"),
        ("desks.0.id", "24/7"),
        ("desks.0.languages", []),
        ("desks.0.languages", ["EN"]),
        ("desks.0.languages", ["english"]),
        ("desks.0.languages", ["en\n"]),
        ("desks.0.fallback_phones", ["0033 1 00 00 00 00"]),
        ("desks.0.fallback_phones", ["+0 123 456 789"]),
        ("desks.0.fallback_phones", ["+33 1"]),
        ("desks.0.fallback_phones", ["+33-1-00-00-00-00"]),
        ("desks.0.fallback_phones", ["+33 1 00 00 00 00\n"]),
        ("desks.1.id", "247"),  # duplicate desk
        ("declarations", [{"article": "42a", "kind": "reservation", "effect": "no_preservation"}]),
        ("declarations", [{"article": "142", "kind": "reservation", "effect": "no_preservation"}]),
        ("declarations", [{"article": "42(3)(B)", "kind": "reservation", "effect": "no_preservation"}]),
        ("declarations", [{"article": "42", "kind": "reservation", "effect": "No-Preservation"}]),
        ("declarations", [{"article": "42", "kind": "reservation", "effect": "ab"}]),
        ("declarations", [{"article": "42", "kind": "objection", "effect": "no_preservation"}]),
        ("declarations", [{"article": "42", "kind": "reservation", "effect": "x_y", "params": {"f": 1.5}}]),
        ("declarations", [{"article": "42\n", "kind": "reservation", "effect": "no_preservation"}]),
        ("declarations", [{"article": "42", "kind": "reservation", "effect": "no_preservation\n"}]),
    ],
)
def test_card_field_validation(vnm: Any, path: str, value: Any) -> None:
    with pytest.raises(INVALID):
        MemberCard.model_validate(_mutated(vnm, path, value))


def test_card_key_validation_duplicate_kid(vnm: Any) -> None:
    data = card_json(vnm)
    data["keys"] = [data["keys"][0], data["keys"][1], data["keys"][0]]
    with pytest.raises(INVALID, match="appears twice"):
        MemberCard.model_validate(data)


def test_card_key_validation_kid_is_the_thumbprint(vnm: Any) -> None:
    data = card_json(vnm)
    data["keys"][0]["kid"] = data["keys"][1]["kid"]
    with pytest.raises(INVALID, match="thumbprint"):
        MemberCard.model_validate(data)


def test_card_needs_an_encryption_key() -> None:
    a, b = KeyPair.generate("sig"), KeyPair.generate("sig")
    with pytest.raises(INVALID, match="'sig' and one 'enc'"):
        card("VNM", [entry(a), entry(b)])


def test_card_needs_a_signing_key() -> None:
    a, b = KeyPair.generate("enc"), KeyPair.generate("enc")
    with pytest.raises(INVALID, match="'sig' and one 'enc'"):
        card("VNM", [entry(a), entry(b)])


def test_card_needs_two_keys() -> None:
    with pytest.raises(INVALID):
        card("VNM", [entry(KeyPair.generate("sig"))])


@pytest.mark.parametrize("after", [timedelta(0), -timedelta(milliseconds=1), -timedelta(days=1)])
def test_key_window_must_not_be_empty(after: timedelta) -> None:
    with pytest.raises(INVALID, match="not_after must be later"):
        entry(KeyPair.generate("sig"), not_before=T0, not_after=T0 + after)


def test_key_window_of_one_millisecond_is_fine() -> None:
    assert entry(KeyPair.generate("sig"), not_before=T0, not_after=T0 + timedelta(milliseconds=1))


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},  # an Ed25519 key labelled for encryption
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                 "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}},
        {"use": "both"},
        {"compromised_since": "soon"},
        {"not_before": "2026-03-01"},
    ],
)
def test_key_entry_validation(vnm: Any, change: dict[str, Any]) -> None:
    data = card_json(vnm)
    data["keys"][0] = {**data["keys"][0], **change}
    with pytest.raises(INVALID):
        MemberCard.model_validate(data)


def test_optional_fields_accept_good_values(vnm: Any) -> None:
    data = card_json(vnm)
    data.update(signed_on="2024-12-29", ratified_on="2025-06-30", declarations=[
        {"article": "40(8)(b)", "kind": "declaration", "effect": "requires_translation",
         "params": {"languages": ["en", "fr"], "strict": True, "days": 30}, "text": "..."},
    ])
    parsed = MemberCard.model_validate(data)
    assert parsed.declarations[0].params["days"] == 30
    assert Declaration(article="42", kind="notification", effect="abc").params == {}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://node.example.org:8401", "https://node.example.org:8401"),
        ("https://node.example.org/", "https://node.example.org"),
        ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        ("http://[::1]:8401/base/", "http://[::1]:8401/base"),
    ],
)
def test_check_endpoint(url: str, expected: str) -> None:
    assert check_endpoint(url) == expected


@pytest.mark.parametrize("url", ["", "node.example.org", "ftp://x.org", "https://x.org\n", "https://x y.org",
                                 "https://x.org\nHost: evil"])
def test_check_endpoint_refuses(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        check_endpoint(url)


def test_trailing_newline_in_card_fields_is_refused_regression() -> None:
    # Regression: the card's patterns ended in "$", which also matches before a final newline, so an
    # endpoint, phone number, language tag, article or date could end in "\n".
    with pytest.raises(ValueError):
        check_endpoint("https://vnm.example.org\n")
    with pytest.raises(INVALID):
        Desk(id="CA", name="x", languages=["en\n"])
    with pytest.raises(INVALID):
        Desk(id="CA", name="x", languages=["en"], fallback_phones=["+84 24 0000 0000\n"])
    with pytest.raises(INVALID):
        Declaration(article="42\n", kind="reservation", effect="no_preservation")
    with pytest.raises(INVALID):
        Declaration(article="42", kind="reservation", effect="no_preservation\n")


def test_trailing_newline_in_card_dates_is_refused_regression(vnm: Any) -> None:
    with pytest.raises(INVALID):
        MemberCard.model_validate({**card_json(vnm), "signed_on": "2024-12-29\n"})


# --- usable keys -------------------------------------------------------------------------------------------


def test_usable_key_picks_the_newest_valid_key() -> None:
    sig = KeyPair.generate("sig")
    old, new = KeyPair.generate("enc"), KeyPair.generate("enc")
    c = card("FRA", [
        entry(sig),
        entry(old, not_before=T0 - timedelta(days=100), not_after=T0 + timedelta(days=10)),
        entry(new, not_before=T0, not_after=T0 + timedelta(days=400)),
    ])
    assert c.usable_key("enc", T0 + timedelta(hours=1)).kid == new.kid  # both valid: the newer
    assert c.usable_key("enc", T0 - timedelta(days=1)).kid == old.kid  # the new one not yet valid
    assert c.usable_key("enc", T0 + timedelta(days=20)).kid == new.kid  # the old one expired
    assert c.usable_key("enc", T0 + timedelta(days=400)) is None  # not_after is exclusive
    assert c.usable_key("sig", T0).kid == sig.kid


def test_usable_key_compares_instants_not_text_regression() -> None:
    # "…00Z" sorts after "…00.500Z" as text although it is the earlier instant.
    sig, early, late = KeyPair.generate("sig"), KeyPair.generate("enc"), KeyPair.generate("enc")
    early_entry = entry(early).model_copy(update={"not_before": "2026-02-01T00:00:00Z"})
    late_entry = entry(late).model_copy(update={"not_before": "2026-02-01T00:00:00.500Z"})
    c = card("FRA", [entry(sig), early_entry, late_entry])
    assert c.usable_key("enc", T0).kid == late.kid


def test_non_ascii_digits_in_dates_are_refused_regression(vnm: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        MemberCard.model_validate(_mutated(vnm, "signed_on", "\u0662\u0660\u0662\u0665-10-25"))


def test_usable_key_skips_compromised_keys() -> None:
    sig = KeyPair.generate("sig")
    old, new = KeyPair.generate("enc"), KeyPair.generate("enc")
    c = card("FRA", [
        entry(sig), entry(old),
        entry(new, not_before=T0, compromised_since=T0 + timedelta(days=2)),
    ])
    assert c.usable_key("enc", T0 + timedelta(hours=1)).kid == old.kid


# --- card signatures ---------------------------------------------------------------------------------------


def test_sign_and_verify_card(vnm: Any) -> None:
    compact = sign_card(vnm.card, vnm.sig)
    assert verify_card(compact) == vnm.card
    assert verify_card(f"\n  {compact}\n") == vnm.card


def test_sign_card_refuses_a_key_not_in_it(vnm: Any) -> None:
    with pytest.raises(DirectoryError, match="one of the keys it lists"):
        sign_card(vnm.card, KeyPair.generate("sig"))


def test_card_signed_by_a_key_not_in_it_is_refused(vnm: Any) -> None:
    stranger = KeyPair.generate("sig")
    compact = jose.sign(canonical_json(card_json(vnm)), stranger, typ=CARD_TYP)
    with pytest.raises(DirectoryError, match="not signed by a signing key it lists"):
        verify_card(compact)


def test_card_header_naming_its_encryption_key_is_refused(vnm: Any) -> None:
    header = b64(json.dumps({"alg": "Ed25519", "kid": vnm.enc.kid, "typ": CARD_TYP}).encode())
    rest = sign_card(vnm.card, vnm.sig).split(".", 1)[1]
    with pytest.raises(DirectoryError):
        verify_card(f"{header}.{rest}")


def test_card_signed_by_its_key_but_claiming_another_kid_is_refused(vnm: Any) -> None:
    # Header names the card's own signing key, signature is by a stranger.
    stranger = KeyPair.generate("sig")
    header = b64(json.dumps({"alg": "Ed25519", "kid": vnm.sig.kid, "typ": CARD_TYP}).encode())
    payload = b64(canonical_json(card_json(vnm)))
    signature = stranger.key.private_key.sign(f"{header}.{payload}".encode())  # type: ignore[union-attr]
    with pytest.raises(DirectoryError, match="member card rejected") as info:
        verify_card(f"{header}.{payload}.{b64(signature)}")
    assert "hanoinet node card" in info.value.hint


def test_tampered_card_is_refused(vnm: Any) -> None:
    header, _, signature = sign_card(vnm.card, vnm.sig).split(".")
    altered = {**card_json(vnm), "endpoint": "https://evil.example.org"}
    with pytest.raises(DirectoryError, match="member card rejected"):
        verify_card(f"{header}.{b64(canonical_json(altered))}.{signature}")


def test_card_with_another_typ_is_refused(vnm: Any) -> None:
    compact = jose.sign(canonical_json(card_json(vnm)), vnm.sig, typ=DIRECTORY_TYP)
    with pytest.raises(DirectoryError):
        verify_card(compact)


@pytest.mark.parametrize("compact", ["", "a.b.c", "garbage"])
def test_garbage_card_is_refused(compact: str) -> None:
    with pytest.raises(DirectoryError):
        verify_card(compact)


def test_validly_signed_but_invalid_card_is_a_directory_error(vnm: Any) -> None:
    bad = {**card_json(vnm), "state": "XXX"}
    with pytest.raises(DirectoryError):
        verify_card(jose.sign(canonical_json(bad), vnm.sig, typ=CARD_TYP))


# --- the directory -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fra() -> Any:
    return member("FRA")


def test_verify_a_good_directory(authority: KeyPair, vnm: Any, fra: Any) -> None:
    compact = signed_directory([vnm.card, fra.card], authority, version=3)
    d = Directory.verify(f"{compact}\n", authority.public, grace=GRACE)
    assert d.version == 3
    assert d.compact == compact
    assert [m.state for m in d.members()] == ["VNM", "FRA"]
    assert d.member("FRA") == fra.card
    assert d.as_json()["members"][0]["state"] == "VNM"
    assert d.grace == GRACE


def test_directory_signed_by_another_key_is_untrusted(authority: KeyPair, vnm: Any) -> None:
    impostor = KeyPair.generate("sig")
    compact = signed_directory([vnm.card], impostor)
    with pytest.raises(DirectoryError) as info:
        Directory.verify(compact, authority.public, grace=GRACE)
    assert info.value.code == "directory_untrusted"
    assert "pinned" in info.value.hint


def test_directory_with_a_bad_signature(authority: KeyPair, vnm: Any, fra: Any) -> None:
    header, _, signature = signed_directory([vnm.card], authority, version=1).split(".")
    other_payload = signed_directory([vnm.card, fra.card], authority, version=9).split(".")[1]
    with pytest.raises(DirectoryError) as info:
        Directory.verify(f"{header}.{other_payload}.{signature}", authority.public, grace=GRACE)
    assert info.value.code == "directory_bad_signature"


def test_directory_signature_by_impostor_claiming_the_pinned_kid(authority: KeyPair, vnm: Any) -> None:
    impostor = KeyPair.generate("sig")
    document = DirectoryDocument(
        version=1, issued_at=format_instant(T0), expires_at=format_instant(T0 + timedelta(days=1)),
        authority=Authority(name="Test Secretariat", kid=authority.kid), members=[vnm.card],
    )
    header = b64(json.dumps({"alg": "Ed25519", "kid": authority.kid, "typ": DIRECTORY_TYP}).encode())
    payload = b64(canonical_json(document.model_dump(mode="json")))
    signature = impostor.key.private_key.sign(f"{header}.{payload}".encode())  # type: ignore[union-attr]
    with pytest.raises(DirectoryError) as info:
        Directory.verify(f"{header}.{payload}.{b64(signature)}", authority.public, grace=GRACE)
    assert info.value.code == "directory_bad_signature"


def test_rollback_is_refused(authority: KeyPair, vnm: Any) -> None:
    compact = signed_directory([vnm.card], authority, version=4)
    with pytest.raises(DirectoryError) as info:
        Directory.verify(compact, authority.public, held_version=5, grace=GRACE)
    assert info.value.code == "directory_rollback"
    assert Directory.verify(compact, authority.public, held_version=4, grace=GRACE).version == 4
    assert Directory.verify(compact, authority.public, held_version=3, grace=GRACE).version == 4


@pytest.mark.parametrize("compact", ["", "x", "a.b", "a.b.c"])
def test_garbage_directory_is_refused(authority: KeyPair, compact: str) -> None:
    with pytest.raises(DirectoryError):
        Directory.verify(compact, authority.public, grace=GRACE)


def test_card_passed_off_as_directory_is_refused(authority: KeyPair, vnm: Any) -> None:
    compact = jose.sign(canonical_json(card_json(vnm)), authority, typ=CARD_TYP)
    with pytest.raises(DirectoryError):
        Directory.verify(compact, authority.public, grace=GRACE)


def _sign_raw_directory(document: dict[str, Any], key: KeyPair) -> str:
    return jose.sign(canonical_json(document), key, typ=DIRECTORY_TYP)


def _document(key: KeyPair, members: list[MemberCard], **changes: Any) -> dict[str, Any]:
    data = {
        "type": "hanoinet-directory", "v": 1, "version": 1,
        "issued_at": format_instant(T0), "expires_at": format_instant(T0 + timedelta(days=30)),
        "authority": {"name": "Test Secretariat", "kid": key.kid},
        "members": [m.model_dump(mode="json") for m in members],
    }
    data.update(changes)
    return data


def test_document_helper_is_valid(authority: KeyPair, vnm: Any) -> None:
    doc = _document(authority, [vnm.card])
    assert Directory.verify(_sign_raw_directory(doc, authority), authority.public, grace=GRACE).members() == [vnm.card]


def test_directory_naming_another_authority_is_refused(authority: KeyPair, vnm: Any) -> None:
    doc = _document(authority, [vnm.card], authority={"name": "Other", "kid": KeyPair.generate("sig").kid})
    with pytest.raises(DirectoryError, match="other than its signer"):
        Directory.verify(_sign_raw_directory(doc, authority), authority.public, grace=GRACE)


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 0},
        {"expires_at": format_instant(T0)},
        {"type": "hanoinet-member-card"},
        {"unknown": 1},
        {"issued_at": "2026-03-01"},
    ],
)
def test_signed_but_invalid_directory_is_refused(authority: KeyPair, vnm: Any, changes: dict[str, Any]) -> None:
    doc = _document(authority, [vnm.card], **changes)
    with pytest.raises(DirectoryError, match="directory is not valid"):
        Directory.verify(_sign_raw_directory(doc, authority), authority.public, grace=GRACE)


def test_directory_listing_a_state_twice_is_refused(authority: KeyPair, vnm: Any) -> None:
    doc = _document(authority, [vnm.card, vnm.card])
    with pytest.raises(DirectoryError, match="appears twice"):
        Directory.verify(_sign_raw_directory(doc, authority), authority.public, grace=GRACE)


def test_signed_directory_with_an_invalid_card_is_a_directory_error_regression(authority: KeyPair, vnm: Any) -> None:
    # Regression: field validators that raise hanoinet's ValidationError (state codes, desk ids, instants,
    # public keys) bypassed the DirectoryError wrapping, so Directory.verify raised a bare ValidationError.
    for bad in ({**card_json(vnm), "state": "XXX"}, {**card_json(vnm), "issued_at": "now"}):
        doc = _document(authority, [])
        doc["members"] = [bad]
        with pytest.raises(DirectoryError, match="directory is not valid"):
            Directory.verify(_sign_raw_directory(doc, authority), authority.public, grace=GRACE)


def test_sign_directory_refuses_another_authority_key(authority: KeyPair, vnm: Any) -> None:
    document = DirectoryDocument.model_validate(_document(authority, [vnm.card]))
    with pytest.raises(DirectoryError, match="another authority key"):
        sign_directory(document, KeyPair.generate("sig"))


def test_directory_of_every_state_verifies(authority: KeyPair) -> None:
    # A full directory is far larger than joserfc's default payload cap (see test_jose).
    sig, enc = KeyPair.generate("sig"), KeyPair.generate("enc")
    cards = [card(c.alpha_3, [entry(sig), entry(enc)]) for c in list(pycountry.countries)[:193]]
    compact = signed_directory(cards, authority)
    assert len(compact) > 200_000
    assert len(Directory.verify(compact, authority.public, grace=GRACE).members()) == 193


# --- expiry ------------------------------------------------------------------------------------------------


def test_expiry_and_grace(authority: KeyPair, vnm: Any) -> None:
    d = verified_directory([vnm.card], authority, issued=T0, valid_for=timedelta(days=30))
    expires = T0 + timedelta(days=30)
    ms = timedelta(milliseconds=1)

    assert not d.expired(expires - ms)
    d.check_current(expires - ms)

    assert d.expired(expires)
    d.check_current(expires)  # within grace: still answers
    d.check_current(expires + GRACE - ms)

    for at in (expires + GRACE, expires + GRACE + timedelta(days=100)):
        with pytest.raises(EnvelopeRefused) as info:
            d.check_current(at)
        assert info.value.code == "directory_expired"
        assert "import a current directory" in info.value.hint


def test_no_grace_means_refused_at_expiry(authority: KeyPair, vnm: Any) -> None:
    compact = signed_directory([vnm.card], authority, issued=T0, valid_for=timedelta(days=1))
    d = Directory.verify(compact, authority.public, grace=timedelta(0))
    d.check_current(T0 + timedelta(days=1) - timedelta(milliseconds=1))
    with pytest.raises(EnvelopeRefused, match="expired"):
        d.check_current(T0 + timedelta(days=1))


def test_verify_does_not_check_expiry(authority: KeyPair, vnm: Any) -> None:
    compact = signed_directory([vnm.card], authority, issued=T0 - timedelta(days=400), valid_for=timedelta(days=1))
    d = Directory.verify(compact, authority.public, grace=GRACE)
    assert d.expired(T0)


# --- verification and encryption keys ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(authority: KeyPair) -> Any:
    """VNM with a current key, a future key, an expired key and a compromised key."""
    current, future, expired, compromised = (KeyPair.generate("sig") for _ in range(4))
    enc = KeyPair.generate("enc")
    c = card("VNM", [
        entry(current),
        entry(future, not_before=T0 + timedelta(days=1)),
        entry(expired, not_before=T0 - timedelta(days=100), not_after=T0),
        entry(compromised, compromised_since=T0 + timedelta(days=5)),
        entry(enc),
    ])
    d = verified_directory([c], authority)

    class Keyed:
        pass

    k = Keyed()
    k.__dict__.update(current=current, future=future, expired=expired, compromised=compromised, enc=enc,
                      directory=d)
    return k


def _refusal(code: str, call: Any) -> EnvelopeRefused:
    with pytest.raises(EnvelopeRefused) as info:
        call()
    assert info.value.code == code
    return info.value


def test_verification_key_current(keyed: Any) -> None:
    assert keyed.directory.verification_key("VNM", keyed.current.kid, T0).kid == keyed.current.kid


def test_verification_key_unknown_kid(keyed: Any) -> None:
    _refusal("unknown_key", lambda: keyed.directory.verification_key("VNM", KeyPair.generate("sig").kid, T0))


def test_verification_key_refuses_an_encryption_key(keyed: Any) -> None:
    _refusal("unknown_key", lambda: keyed.directory.verification_key("VNM", keyed.enc.kid, T0))


def test_verification_key_before_not_before(keyed: Any) -> None:
    d = keyed.directory
    _refusal("key_not_valid", lambda: d.verification_key("VNM", keyed.future.kid, T0))
    assert d.verification_key("VNM", keyed.future.kid, T0 + timedelta(days=1)).kid == keyed.future.kid


def test_verification_key_at_or_after_not_after(keyed: Any) -> None:
    d = keyed.directory
    assert d.verification_key("VNM", keyed.expired.kid, T0 - timedelta(milliseconds=1)).kid == keyed.expired.kid
    _refusal("key_not_valid", lambda: d.verification_key("VNM", keyed.expired.kid, T0))
    _refusal("key_not_valid", lambda: d.verification_key("VNM", keyed.expired.kid, T0 + timedelta(days=3)))


def test_verification_key_compromised_whatever_the_claimed_time(keyed: Any) -> None:
    # Compromised from T0+5d, but a message claiming an earlier creation time is refused as well.
    for at in (T0, T0 + timedelta(days=6)):
        refusal = _refusal("key_compromised", lambda at=at: keyed.directory.verification_key(
            "VNM", keyed.compromised.kid, at))
        assert "rotate" in refusal.hint


def test_verification_key_unknown_state(keyed: Any) -> None:
    _refusal("unknown_state", lambda: keyed.directory.verification_key("FRA", keyed.current.kid, T0))


def test_member_unknown_state(keyed: Any) -> None:
    _refusal("unknown_state", lambda: keyed.directory.member("BRA"))


def test_encryption_key_rotation(authority: KeyPair) -> None:
    sig = KeyPair.generate("sig")
    old, new = KeyPair.generate("enc"), KeyPair.generate("enc")
    c = card("BRA", [
        entry(sig),
        entry(old, not_before=T0 - timedelta(days=300), not_after=T0 + timedelta(days=60)),
        entry(new, not_before=T0, not_after=T0 + timedelta(days=700)),
    ])
    d = verified_directory([c], authority)
    assert d.encryption_key("BRA", T0 - timedelta(milliseconds=1)).kid == old.kid
    assert d.encryption_key("BRA", T0).kid == new.kid
    assert d.encryption_key("BRA", T0 + timedelta(days=100)).kid == new.kid
    _refusal("no_valid_key", lambda: d.encryption_key("BRA", T0 + timedelta(days=700)))
    _refusal("unknown_state", lambda: d.encryption_key("DEU", T0))


def test_encryption_key_skips_a_compromised_newer_key(authority: KeyPair) -> None:
    sig = KeyPair.generate("sig")
    old, new = KeyPair.generate("enc"), KeyPair.generate("enc")
    c = card("BRA", [entry(sig), entry(old), entry(new, not_before=T0, compromised_since=T0)])
    d = verified_directory([c], authority)
    assert d.encryption_key("BRA", T0 + timedelta(hours=1)).kid == old.kid


def test_directory_payload_is_canonical(authority: KeyPair, vnm: Any) -> None:
    compact = signed_directory([vnm.card], authority)
    payload = base64.urlsafe_b64decode(compact.split(".")[1] + "==")
    assert canonical_json(json.loads(payload)) == payload


def test_desk_model() -> None:
    desk = Desk(id="CA", name="Central authority", languages=["en", "zh-Hant", "fr-CA"],
                fallback_phones=["+84 24 1234 5678"])
    assert desk.languages == ["en", "zh-Hant", "fr-CA"]
    with pytest.raises(INVALID):
        Desk(id="CA", name="", languages=["en"])
