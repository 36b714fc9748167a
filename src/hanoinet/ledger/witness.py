"""What a witness concludes from a log's new checkpoint (pure).

A witness keeps, per log, the last checkpoint it verified. A new checkpoint either repeats it, extends it
(checked with a consistency proof), or betrays the log: two different trees of one size (a fork), a smaller
tree (a shrink), or a larger tree that does not contain the old one. The last three are kept as evidence and
raised as alarms; the witness never moves forward from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from hanoinet.ledger import merkle
from hanoinet.ledger.checkpoint import Checkpoint


class Verdict(StrEnum):
    """The witness's conclusion; the last three are misbehaviour of the log."""

    FIRST = "first"
    SAME = "same"
    EXTENDS = "extends"
    FORK = "fork"
    SHRINK = "shrink"
    INCONSISTENT = "inconsistent"

    @property
    def misbehaviour(self) -> bool:
        """Whether the log must be reported."""
        return self in (Verdict.FORK, Verdict.SHRINK, Verdict.INCONSISTENT)


@dataclass(frozen=True, slots=True)
class Seen:
    """The last checkpoint a witness verified for one log."""

    size: int
    root: bytes


def assess(previous: Seen | None, new: Checkpoint, proof: Sequence[bytes] | None) -> Verdict:
    """Judge ``new`` against ``previous``; ``proof`` is the log's consistency proof from ``previous.size``.

    Precondition: ``new``'s signature was verified with the log's key. The proof is needed only when the new
    tree is larger than the previous one; a missing or wrong proof makes the checkpoint ``inconsistent``.
    """
    if previous is None or previous.size == 0:
        return Verdict.FIRST
    if new.size < previous.size:
        return Verdict.SHRINK
    if new.size == previous.size:
        return Verdict.SAME if new.root_hash == previous.root else Verdict.FORK
    try:
        merkle.verify_consistency(previous.size, new.size, list(proof or ()), previous.root, new.root_hash)
    except merkle.ProofError:
        return Verdict.INCONSISTENT
    return Verdict.EXTENDS
