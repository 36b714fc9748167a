"""C2SP checkpoint bodies: spec and Go vectors, refusals with their codes, and the format/parse round trip."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.ledger.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointError,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from hanoinet.ledger.note import NoteVerificationError, Signer, Verifier

# c2sp.org/tlog-checkpoint, the example at the top of the spec.
SPEC_EXAMPLE = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
# golang.org/x/mod/sumdb/tlog note_test.go (TestFormatTree): the root is RecordHash("hello world").
GO_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
HELLO_WORLD_LEAF = hashlib.sha256(b"\x00hello world").digest()


def test_spec_example_parses_and_formats_back() -> None:
    cp = parse_checkpoint(SPEC_EXAMPLE)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert format_checkpoint(cp) == cp.to_text() == SPEC_EXAMPLE


def test_go_tree_vector() -> None:
    cp = Checkpoint(origin="go.sum database tree", size=123456789012, root_hash=HELLO_WORLD_LEAF)
    assert cp.to_text() == GO_TREE
    assert parse_checkpoint(GO_TREE) == cp
    assert parse_checkpoint(GO_TREE.encode()) == cp


def test_go_trailing_line_is_an_extension_here() -> None:
    # Go's ParseTree ignores "JOE\n" after the hash; in a C2SP checkpoint it is an extension line.
    cp = parse_checkpoint(GO_TREE + "JOE\n")
    assert cp.extensions == ("JOE",)
    assert cp.to_text() == GO_TREE + "JOE\n"


@pytest.mark.parametrize(
    ("origin", "valid"),
    [
        # FiloSottile/torchwood checkpoint_test.go, TestParseCheckpointOriginLength.
        ("", False),
        ("a", True),
        ("a" * 255, True),
        ("a" * 256, False),
        ("é" * 127 + "a", True),
        ("é" * 128, False),
        ("example log+origin", True),
    ],
)
def test_origin_length_in_bytes(origin: str, valid: bool) -> None:
    text = f"{origin}\n1\n{base64.b64encode(HELLO_WORLD_LEAF).decode()}\nextension\n"
    if valid:
        cp = parse_checkpoint(text)
        assert (cp.origin, cp.extensions, cp.to_text()) == (origin, ("extension",), text)
    else:
        with pytest.raises(CheckpointError) as exc:
            parse_checkpoint(text)
        assert exc.value.code == "checkpoint_origin"


ROOT64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (SPEC_EXAMPLE[:-1], "checkpoint_malformed"),  # no final newline
        ("example.com/log\n5\n", "checkpoint_malformed"),
        ("", "checkpoint_malformed"),
        ("\n5\n" + ROOT64 + "\n", "checkpoint_origin"),
        ("exa\tmple\n5\n" + ROOT64 + "\n", "checkpoint_origin"),
        ("example.com/log\n0xabcdef\n" + ROOT64 + "\n", "checkpoint_size"),  # Go TestParseTree
        ("example.com/log\n007\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n00\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n-1\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n+1\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n 1\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n1_000\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n\u0661\u0662\n" + ROOT64 + "\n", "checkpoint_size"),  # Arabic-Indic digits
        ("example.com/log\n\n" + ROOT64 + "\n", "checkpoint_size"),
        (f"example.com/log\n{2**64}\n" + ROOT64 + "\n", "checkpoint_size"),
        ("example.com/log\n" + "9" * 400 + "\n" + ROOT64 + "\n", "checkpoint_size"),
        ("go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
         "checkpoint_root_hash"),  # Go TestParseTree
        ("example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "checkpoint_root_hash"),  # pad bits
        ("example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", "checkpoint_root_hash"),
        ("example.com/log\n5\n" + base64.b64encode(bytes(31)).decode() + "\n", "checkpoint_root_hash"),
        ("example.com/log\n5\n" + base64.b64encode(bytes(33)).decode() + "\n", "checkpoint_root_hash"),
        ("example.com/log\n5\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n", "checkpoint_root_hash"),
        ("example.com/log\n5\n" + ROOT64 + "\n\n", "checkpoint_extension"),
        ("example.com/log\n5\n" + ROOT64 + "\next\n\nmore\n", "checkpoint_extension"),
        ("example.com/log\n5\n" + ROOT64 + "\nex\x00t\n", "checkpoint_extension"),
    ],
)
def test_malformed_checkpoints_are_refused_with_their_code(text: str, code: str) -> None:
    with pytest.raises(CheckpointError) as exc:
        parse_checkpoint(text)
    assert exc.value.code == code


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(CheckpointError) as exc:
        parse_checkpoint(b"\xff\n5\n" + ROOT64.encode() + b"\n")
    assert exc.value.code == "checkpoint_malformed"


def test_size_bounds() -> None:
    assert parse_checkpoint(f"log\n0\n{ROOT64}\n").size == 0
    assert parse_checkpoint(f"log\n{MAX_TREE_SIZE}\n{ROOT64}\n").size == 2**64 - 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"origin": "log", "size": -1, "root_hash": HELLO_WORLD_LEAF}, "checkpoint_size"),
        ({"origin": "log", "size": True, "root_hash": HELLO_WORLD_LEAF}, "checkpoint_size"),
        ({"origin": "log", "size": 2**64, "root_hash": HELLO_WORLD_LEAF}, "checkpoint_size"),
        ({"origin": "log", "size": 1, "root_hash": b"short"}, "checkpoint_root_hash"),
        ({"origin": "a\nb", "size": 1, "root_hash": HELLO_WORLD_LEAF}, "checkpoint_origin"),
        ({"origin": "log", "size": 1, "root_hash": HELLO_WORLD_LEAF, "extensions": ("",)}, "checkpoint_extension"),
        ({"origin": "log", "size": 1, "root_hash": HELLO_WORLD_LEAF, "extensions": ("a\nb",)}, "checkpoint_extension"),
    ],
)
def test_checkpoint_objects_are_valid_once_built(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(CheckpointError) as exc:
        Checkpoint(**kwargs)  # type: ignore[arg-type]
    assert exc.value.code == code


# --- signed checkpoints -----------------------------------------------------------------------------------------


def test_real_sigsum_checkpoint_opens_for_its_origin() -> None:
    # A signed checkpoint of a Sigsum test log, from FiloSottile/torchwood cmd/litewitness/testdata/logbastion.txt;
    # the log key is the one given to `witnessctl add-sigsum-log` there.
    public = bytes.fromhex("ffdc2d4d98e4124d3feaf788c0c2f9abfd796083d1f0495437f302ec79cf100f")
    origin = "sigsum.org/v1/tree/" + hashlib.sha256(public).hexdigest()
    assert origin.endswith("4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562")
    data = (f"{origin}\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— {origin} "
            "UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY=\n").encode()
    cp, note = open_checkpoint(data, [Verifier(name=origin, public_key=public)], origin=origin)
    assert (cp.origin, cp.size, cp.root_hash) == (origin, 1, b"*" + bytes(31))
    assert note.signatures[0].name == origin


def test_sign_and_open_checkpoint() -> None:
    log = Signer(name="hanoinet.example/VNM/custody", private_key=Ed25519PrivateKey.generate())
    cp = Checkpoint(origin=log.name, size=3, root_hash=HELLO_WORLD_LEAF)
    data = sign_checkpoint(cp, [log])
    assert open_checkpoint(data, [log.verifier], origin=log.name)[0] == cp
    with pytest.raises(NoteVerificationError) as exc:
        open_checkpoint(data, [log.verifier], origin="hanoinet.example/FRA/custody")
    assert exc.value.code == "checkpoint_wrong_origin"


# --- properties -------------------------------------------------------------------------------------------------

line_text = st.text(alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1)
checkpoints = st.builds(
    Checkpoint,
    origin=line_text.filter(lambda s: len(s.encode()) <= 255),
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=4).map(tuple),
)


@given(checkpoints)
def test_format_then_parse_round_trips(cp: Checkpoint) -> None:
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    assert parse_checkpoint(text.encode()) == cp
    assert format_checkpoint(parse_checkpoint(text)) == text
