"""C2SP signed notes: the golang.org/x/mod/sumdb/note vectors, real signed checkpoints, refusals, properties."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.errors import ValidationError
from hanoinet.ledger.note import (
    ALG_ED25519,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Note,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerificationError,
    NoteVerifier,
    SignedNote,
    Signer,
    Verifier,
    compute_key_id,
    decode_verifier_key,
    encode_verifier_key,
    format_signed_note,
    is_valid_key_name,
    open_note,
    parse_signed_note,
    sign_note,
)

# --- vectors from golang.org/x/mod/sumdb/note (note.go package comment and note_test.go) -------------------------
# skey "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz": 0x01 || Ed25519 seed.
PETER_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
ENOCH_B64 = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"

# --- real signed checkpoints of Sigsum test logs, from FiloSottile/torchwood cmd/litewitness/testdata ----------------
# (multi-cosigs-ed25519.txt and logbastion.txt): the log key is the Ed25519 key given to `witnessctl add-sigsum-log`,
# the key name is "sigsum.org/v1/tree/" + hex(SHA-256(public key)).
KEYS = [Ed25519PrivateKey.from_private_bytes(hashlib.sha256(bytes([i])).digest()) for i in range(3)]
SIGSUM_LOGS = [
    ("52c05edad1bf5feffa81354faae59a655d9a9a1a793ed2f62c39c26c0be2aecd",
     "7BKT0gOfNZ1J0So9unY3BZtm2YkPIoNYM/dce0Z2avJDs8dxN6ts9bOSwwrVrbjm6P9K3ZxpK6jJngOG6YvGGzV/lwo="),
    ("ffdc2d4d98e4124d3feaf788c0c2f9abfd796083d1f0495437f302ec79cf100f",
     "UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY="),
]


def peter() -> Signer:
    return Signer(name="PeterNeumann", private_key=Ed25519PrivateKey.from_private_bytes(PETER_SEED))


def code_of(exc: pytest.ExceptionInfo[NoteError]) -> str:
    return exc.value.code


# --- keys -----------------------------------------------------------------------------------------------------


def test_peter_neumann_signer_derives_the_published_verifier_key() -> None:
    signer = peter()
    assert signer.key_id == 0xC74F20A3
    assert signer.verifier.vkey == PETER_VKEY
    assert Verifier.from_vkey(PETER_VKEY) == signer.verifier


def test_key_id_is_sha256_of_name_newline_type_and_key() -> None:
    name, key_id, alg, key = decode_verifier_key(ENOCH_VKEY)
    assert (name, key_id, alg) == ("EnochRoot", 0xAF0CFE78, ALG_ED25519)
    digest = hashlib.sha256(b"EnochRoot\n\x01" + key).digest()
    assert compute_key_id(name, ALG_ED25519, key) == int.from_bytes(digest[:4], "big") == key_id
    assert encode_verifier_key(name, ALG_ED25519, key) == ENOCH_VKEY


def test_every_substring_and_every_bumped_byte_of_a_verifier_key_is_refused() -> None:
    # TestNewVerifier in golang.org/x/mod/sumdb/note: manglings of the PeterNeumann key.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    Verifier.from_vkey(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        bumped = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            Verifier.from_vkey(bumped)


def test_go_wrong_length_and_unknown_algorithm_keys_are_refused_for_that_reason() -> None:
    # Same test: both have a key ID adjusted to match, so only the length / the algorithm byte is wrong.
    with pytest.raises(NoteError) as exc:
        Verifier.from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    assert code_of(exc) == "verifier_key_malformed"
    with pytest.raises(NoteError) as exc:
        Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert code_of(exc) == "verifier_key_algorithm"


@pytest.mark.parametrize(
    ("vkey", "code"),
    [
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "verifier_key_malformed"),  # uppercase
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "verifier_key_id_mismatch"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "verifier_key_malformed"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "verifier_key_malformed"),
        ("PeterNeumann+c74f20a3", "verifier_key_malformed"),
    ],
)
def test_malformed_verifier_keys_name_their_problem(vkey: str, code: str) -> None:
    with pytest.raises(NoteError) as exc:
        Verifier.from_vkey(vkey)
    assert code_of(exc) == code


def test_a_cosignature_key_is_not_a_note_verifier() -> None:
    # remora.n621.de's witness key, listed in transparency-dev/formats note_cosigv1_test.go (type 0x04).
    with pytest.raises(NoteError) as exc:
        Verifier.from_vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
    assert code_of(exc) == "verifier_key_algorithm"


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u3000b", "a\x01b", "a\ud800"])
def test_key_names_without_spaces_plus_or_controls(name: str) -> None:
    assert not is_valid_key_name(name)
    with pytest.raises(NoteError) as exc:
        Signer(name=name, private_key=Ed25519PrivateKey.generate())
    assert code_of(exc) == "note_key_name"


def test_url_like_and_non_ascii_names_are_valid() -> None:
    assert is_valid_key_name("example.com/behind-the-sofa")
    assert is_valid_key_name("quasimodo.example/salvatore")
    assert is_valid_key_name("hanoinet.example/VNM/é")


def test_signer_and_verifier_implement_the_interfaces() -> None:
    assert isinstance(peter(), NoteSigner)
    assert isinstance(peter().verifier, NoteVerifier)
    assert "PRIVATE" not in repr(peter()) and "private_key" not in repr(peter())


# --- signing -----------------------------------------------------------------------------------------------------


def test_sign_reproduces_the_go_peter_neumann_note() -> None:
    # TestSign: Ed25519 is deterministic, so the signed note is byte for byte the Go one.
    assert sign_note(TEXT, [peter()]) == (TEXT + "\n" + PETER_SIG).encode()


def test_sign_replaces_an_existing_signature_by_the_same_key() -> None:
    old = NoteSignature("PeterNeumann", 0xC74F20A3, b"\x01\x02")
    assert sign_note(TEXT, [peter()], keep=[old]) == (TEXT + "\n" + PETER_SIG).encode()


def test_sign_keeps_other_signatures_first() -> None:
    enoch = parse_signed_note((TEXT + "\n" + ENOCH_SIG).encode()).signatures[0]
    assert sign_note(TEXT, [peter()], keep=[enoch]) == (TEXT + "\n" + ENOCH_SIG + PETER_SIG).encode()


@pytest.mark.parametrize(
    ("text", "code"),
    [("abc", "note_text"), ("", "note_text"), ("a\x01\n", "note_control_character"), ("a\ud800\n", "note_not_utf8")],
)
def test_sign_refuses_text_that_is_no_note(text: str, code: str) -> None:
    with pytest.raises(NoteError) as exc:
        sign_note(text, [peter()])
    assert code_of(exc) == code


def test_sign_needs_distinct_signers() -> None:
    with pytest.raises(NoteError) as exc:
        sign_note(TEXT, [])
    assert code_of(exc) == "note_no_signers"
    with pytest.raises(NoteError) as exc:
        sign_note(TEXT, [peter(), peter()])
    assert code_of(exc) == "note_duplicate_signer"


# --- opening: TestOpen of golang.org/x/mod/sumdb/note --------------------------------------------------------------


def test_open_with_one_known_key_keeps_the_other_as_unverified() -> None:
    note = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [Verifier.from_vkey(PETER_VKEY)])
    assert note.text == TEXT
    assert [(s.name, s.key_id) for s in note.signatures] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.name, s.key_id) for s in note.unverified] == [("EnochRoot", 0xAF0CFE78)]
    assert note.signatures[0].line == PETER_SIG
    assert note.unverified[0].line == ENOCH_SIG


def test_open_with_both_keys_verifies_both() -> None:
    verifiers = [Verifier.from_vkey(PETER_VKEY), Verifier.from_vkey(ENOCH_VKEY)]
    note = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), verifiers)
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    assert note.unverified == ()
    assert note.to_bytes() == (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()


def test_open_with_no_known_signer_is_refused() -> None:
    with pytest.raises(NoteVerificationError) as exc:
        someone = Signer(name="Someone", private_key=KEYS[0]).verifier
        open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [someone])
    assert code_of(exc) == "note_unverified"
    assert "PeterNeumann+c74f20a3" in exc.value.message


def test_open_needs_verifiers() -> None:
    with pytest.raises(NoteError) as exc:
        open_note((TEXT + "\n" + PETER_SIG).encode(), [])
    assert code_of(exc) == "note_no_verifiers"


def test_open_refuses_two_different_keys_with_one_name_and_key_id() -> None:
    real = Verifier.from_vkey(PETER_VKEY)

    class Impostor:
        name = real.name
        key_id = real.key_id

        def verify(self, text: bytes, signature: bytes) -> bool:
            return True

    with pytest.raises(NoteError) as exc:
        open_note((TEXT + "\n" + PETER_SIG).encode(), [real, Impostor()])
    assert code_of(exc) == "note_ambiguous_verifiers"
    # The same verifier given twice is no ambiguity.
    assert open_note((TEXT + "\n" + PETER_SIG).encode(), [real, Verifier.from_vkey(PETER_VKEY)]).signatures


def test_too_many_signatures_are_refused_even_when_identical() -> None:
    data = (TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1)).encode()
    for verifiers in ([Verifier.from_vkey(PETER_VKEY)], [Verifier.from_vkey(ENOCH_VKEY)]):
        with pytest.raises(NoteError) as exc:
            open_note(data, verifiers)
        assert code_of(exc) == "note_too_many_signatures"


def test_a_known_key_whose_signature_fails_rejects_the_whole_note() -> None:
    data = (TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]).encode()
    with pytest.raises(NoteVerificationError) as exc:
        open_note(data, [Verifier.from_vkey(PETER_VKEY)])
    assert code_of(exc) == "note_signature_invalid"


def test_identical_repeats_count_once_and_unknown_variants_are_kept() -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    data = (TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd).encode()
    note = open_note(data, [Verifier.from_vkey(PETER_VKEY)])
    assert [s.line for s in note.signatures] == [PETER_SIG]
    assert [s.line for s in note.unverified] == [ENOCH_SIG, enoch_abcd]


def test_two_different_signatures_by_one_known_key_are_refused() -> None:
    # Stricter than Go, which keeps the first and skips the second unchecked.
    other = NoteSignature("PeterNeumann", 0xC74F20A3, bytes(64)).line
    with pytest.raises(NoteVerificationError) as exc:
        open_note((TEXT + "\n" + PETER_SIG + other).encode(), [Verifier.from_vkey(PETER_VKEY)])
    assert code_of(exc) == "note_conflicting_signatures"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (TEXT, "note_malformed"),
        (TEXT + "\n", "note_malformed"),
        (TEXT + "\n" + PETER_SIG[:-1], "note_malformed"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "note_control_character"),
        ("a\rb\n\n" + PETER_SIG, "note_control_character"),
        (TEXT + "\n— Bad Name " + PETER_B64, "note_malformed"),
        (TEXT + "\n— Bad Name " + PETER_B64 + "\n", "note_signature_line"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "note_signature_line"),
        (TEXT + "\n- PeterNeumann " + PETER_B64 + "\n", "note_signature_line"),
        (TEXT + "\n— PeterNeumann x08go/\n", "note_signature_line"),  # not base64
        (TEXT + "\n— PeterNeumann x08gow==\n", "note_signature_line"),  # only four bytes: no signature
        (TEXT + "\n— PeterNeumann x08gow/=\n", "note_signature_line"),  # non-zero padding bits
        (TEXT + "\n— a+b x08gow/A\n", "note_signature_line"),
    ],
)
def test_malformed_notes_are_refused_with_their_code(message: str, code: str) -> None:
    # The first, second, third, fourth, sixth and eighth are the bad messages of TestOpen.
    with pytest.raises(NoteError) as exc:
        open_note(message.encode(), [Verifier.from_vkey(PETER_VKEY)])
    assert code_of(exc) == code


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(NoteError) as exc:
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [Verifier.from_vkey(PETER_VKEY)])
    assert code_of(exc) == "note_not_utf8"


def test_oversize_notes_are_refused_before_parsing() -> None:
    data = ("a" * MAX_NOTE_BYTES + "\n\n" + PETER_SIG).encode()
    with pytest.raises(NoteError) as exc:
        open_note(data, [Verifier.from_vkey(PETER_VKEY)])
    assert code_of(exc) == "note_too_large"


def test_text_may_hold_blank_lines_the_last_one_separates() -> None:
    # The C2SP signed-note example text has an empty line inside it.
    text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    signer = Signer(name="quasimodo.example/salvatore", private_key=Ed25519PrivateKey.generate())
    note = open_note(sign_note(text, [signer]), [signer.verifier])
    assert note.text == text


def test_errors_are_validation_errors_with_hints() -> None:
    with pytest.raises(ValidationError) as exc:
        open_note(b"nothing", [Verifier.from_vkey(PETER_VKEY)])
    assert exc.value.code == "note_malformed"


def test_parse_and_format_are_inverse() -> None:
    data = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    parsed = parse_signed_note(data)
    assert parsed == SignedNote(TEXT, parsed.signatures)
    assert parsed.to_bytes() == data == format_signed_note(TEXT, parsed.signatures)
    assert Note(TEXT, parsed.signatures[:1], parsed.signatures[1:]).to_bytes() == data


# --- real signed checkpoints ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("public_hex", "signature"), SIGSUM_LOGS)
def test_real_sigsum_checkpoints_verify(public_hex: str, signature: str) -> None:
    public = bytes.fromhex(public_hex)
    name = "sigsum.org/v1/tree/" + hashlib.sha256(public).hexdigest()
    text = f"{name}\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    verifier = Verifier(name=name, public_key=public)
    note = open_note(f"{text}\n— {name} {signature}\n".encode(), [verifier])
    assert note.text == text
    assert note.signatures[0].key_id == verifier.key_id
    with pytest.raises(NoteVerificationError):
        open_note(f"{text.replace('1', '2', 1)}\n— {name} {signature}\n".encode(), [verifier])


# --- properties ----------------------------------------------------------------------------------------------------

# Any text but the control characters below U+0020 other than newline (c2sp.org/signed-note, "Format").
note_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cs"]) | st.just("\n"), max_size=200,
).map(lambda t: t + "\n")
key_names = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="+"),
    min_size=1, max_size=30,
)


@given(text=note_text, names=st.lists(key_names, min_size=1, max_size=3, unique=True))
def test_sign_then_open_round_trips(text: str, names: list[str]) -> None:
    signers = [Signer(name=n, private_key=k) for n, k in zip(names, KEYS, strict=False)]
    note = open_note(sign_note(text, signers), [s.verifier for s in signers])
    assert note.text == text
    assert [s.name for s in note.signatures] == names
    assert note.unverified == ()


SIGNED = sign_note(TEXT, [peter()])


@given(position=st.integers(0, len(SIGNED) - 1), value=st.integers(0, 255))
def test_any_single_byte_change_defeats_verification(position: int, value: int) -> None:
    if SIGNED[position] == value:
        value ^= 0x80
    changed = SIGNED[:position] + bytes([value]) + SIGNED[position + 1 :]
    with pytest.raises(NoteError):
        open_note(changed, [Verifier.from_vkey(PETER_VKEY)])


@given(text=note_text, position=st.integers(0), value=st.integers(1, 255))
def test_with_two_signers_a_changed_byte_never_keeps_both_verified(text: str, position: int, value: int) -> None:
    signers = [Signer(name="log.example/a", private_key=KEYS[0]), Signer(name="log.example/b", private_key=KEYS[1])]
    data = sign_note(text, signers)
    position %= len(data)
    changed = data[:position] + bytes([data[position] ^ value]) + data[position + 1 :]
    try:
        note = open_note(changed, [s.verifier for s in signers])
    except NoteError:
        return
    assert len(note.signatures) < 2


def test_every_bit_flip_of_the_go_note_defeats_verification() -> None:
    verifiers = [Verifier.from_vkey(PETER_VKEY)]
    for position in range(len(SIGNED)):
        for bit in range(8):
            changed = SIGNED[:position] + bytes([SIGNED[position] ^ (1 << bit)]) + SIGNED[position + 1 :]
            with pytest.raises(NoteError):
                open_note(changed, verifiers)
