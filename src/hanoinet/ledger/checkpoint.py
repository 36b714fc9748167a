"""C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint): the signed tree head of the custody ledger.

A checkpoint is the text of a signed note, at least three non-empty lines::

    example.com/behind-the-sofa
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

the origin (the log's identity), the tree size in decimal, the base64 RFC 6962 root hash, then optional
extension lines. This module parses and formats that body; :func:`sign_checkpoint` and
:func:`open_checkpoint` add the signed-note envelope from ``hanoinet.ledger.note``. Pure code, no I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hanoinet.errors import ValidationError
from hanoinet.ledger.note import Note, NoteSigner, NoteVerificationError, NoteVerifier, open_note, sign_note

#: RFC 6962 root hashes are SHA-256.
HASH_SIZE = 32

#: Largest tree size accepted: an unsigned 64-bit integer, the ``tree_size`` of RFC 6962 section 3.5.
MAX_TREE_SIZE = 2**64 - 1

#: Longest origin accepted, in UTF-8 bytes. The checkpoint spec sets no bound; this one is torchwood's
#: (``ParseCheckpoint``) and fits the ``opaque log_origin<1..2^8-1>`` of c2sp.org/tlog-cosignature.
MAX_ORIGIN_BYTES = 255

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f]")


class CheckpointError(ValidationError):
    """A checkpoint body is malformed; ``code`` names the line at fault."""

    code = "checkpoint_malformed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and optional extension lines. Valid once built."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_origin(self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size!r} is not an integer in 0..2^64-1", code="checkpoint_size")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointError("the root hash is not 32 bytes (SHA-256)", code="checkpoint_root_hash")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("extensions must be a tuple of lines", code="checkpoint_extension")
        for line in self.extensions:
            # "Extension lines, if any, MUST be non-empty." (c2sp.org/tlog-checkpoint, "Note text", 4)
            if not isinstance(line, str) or not line or _CONTROL.search(line):
                raise CheckpointError(f"extension line {line!r} is empty or holds a newline or control character",
                                      code="checkpoint_extension")

    def to_text(self) -> str:
        """The note text (body) of this checkpoint, ending in a newline."""
        return format_checkpoint(self)


def _check_origin(origin: object) -> None:
    # "The origin MUST be non-empty" (c2sp.org/tlog-checkpoint, "Note text", 1). Spaces and '+' are only
    # discouraged ("clients MUST NOT assume that the origin is following this format"), so they are accepted.
    if not isinstance(origin, str) or not origin or _CONTROL.search(origin):
        raise CheckpointError(f"origin {origin!r} is empty or holds a newline or control character",
                              code="checkpoint_origin")
    try:
        size = len(origin.encode("utf-8"))
    except UnicodeEncodeError:
        raise CheckpointError("the origin is not valid Unicode", code="checkpoint_origin") from None
    if size > MAX_ORIGIN_BYTES:
        raise CheckpointError(f"the origin is {size} bytes long, more than {MAX_ORIGIN_BYTES}",
                              code="checkpoint_origin")


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """``origin\\nsize\\nbase64(root)\\n`` followed by one line per extension."""
    lines = [checkpoint.origin, str(checkpoint.size), base64.b64encode(checkpoint.root_hash).decode("ascii")]
    return "\n".join([*lines, *checkpoint.extensions]) + "\n"


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a checkpoint body (the note text, without signatures).

    Refuses with :class:`CheckpointError`: not ending in a newline or fewer than three lines
    [``checkpoint_malformed``]; an empty or over-long origin [``checkpoint_origin``]; a size that is not ASCII
    decimal without leading zeros (``0`` alone excepted) or exceeds 2^64-1 [``checkpoint_size``]; a root hash
    that is not the canonical base64 of 32 bytes [``checkpoint_root_hash``]; an empty extension line
    [``checkpoint_extension``].
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("the checkpoint is not valid UTF-8", code="checkpoint_malformed") from None
    if not isinstance(text, str) or not text.endswith("\n"):
        raise CheckpointError("a checkpoint ends with a newline", code="checkpoint_malformed")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"a checkpoint has at least three lines, this one has {len(lines)}",
                              hint="origin, tree size and root hash, each on its own line",
                              code="checkpoint_malformed")
    origin, size_text, hash_text, *extensions = lines
    _check_origin(origin)
    # "the ASCII decimal representation ... with no leading zeroes (unless the tree is empty ...)"
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise CheckpointError(f"tree size {size_text[:30]!r} is not a decimal number without leading zeros "
                              "in 0..2^64-1", code="checkpoint_size")
    root = _decode_hash(hash_text)
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root, extensions=tuple(extensions))


def _decode_hash(text: str) -> bytes:
    problem = CheckpointError(f"root hash {text[:60]!r} is not the base64 of 32 bytes", code="checkpoint_root_hash")
    if len(text) != 44:  # base64 of 32 bytes, with one '=' of padding
        raise problem
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise problem from None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != text:
        raise problem
    return raw


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> bytes:
    """The checkpoint as a signed note.

    The log's key name SHOULD match the origin (c2sp.org/tlog-checkpoint, "Signatures"); this is not
    enforced here so that a witness can cosign with its own name through the same call.
    """
    return sign_note(checkpoint.to_text(), signers)


def open_checkpoint(data: bytes, verifiers: Iterable[NoteVerifier], *, origin: str) -> tuple[Checkpoint, Note]:
    """Open a signed checkpoint from the log named ``origin``: verify the note, parse the body, check the origin.

    The note must verify with at least one of ``verifiers`` (see ``open_note``) and the checkpoint's origin
    must be ``origin`` exactly [``checkpoint_wrong_origin``], so that a valid checkpoint of another log
    signed by the same key is refused.
    """
    note = open_note(data, verifiers)
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin:
        raise NoteVerificationError(f"the checkpoint is for log {checkpoint.origin!r}, expected {origin!r}",
                                    code="checkpoint_wrong_origin")
    return checkpoint, note
