"""A witness's verdicts: first sight, repeat, extension, and the three kinds of misbehaviour."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hanoinet.ledger import merkle
from hanoinet.ledger.checkpoint import Checkpoint
from hanoinet.ledger.witness import Seen, Verdict, assess

LEAVES = [merkle.leaf_hash(bytes([i])) for i in range(40)]


def checkpoint(size: int, leaves: list[bytes] = LEAVES) -> Checkpoint:
    return Checkpoint(origin="hanoinet/VNM/ledger", size=size, root_hash=merkle.root(leaves[:size]))


def seen(size: int) -> Seen:
    return Seen(size=size, root=merkle.root(LEAVES[:size]))


def test_first_same_and_extension() -> None:
    assert assess(None, checkpoint(5), None) is Verdict.FIRST
    assert assess(seen(5), checkpoint(5), None) is Verdict.SAME
    proof = merkle.consistency_proof_from_leaves(5, LEAVES[:9])
    assert assess(seen(5), checkpoint(9), proof) is Verdict.EXTENDS


def test_misbehaviour_is_named() -> None:
    rewritten = [merkle.leaf_hash(b"x"), *LEAVES[1:]]
    assert assess(seen(5), checkpoint(5, rewritten), None) is Verdict.FORK
    assert assess(seen(9), checkpoint(5), None) is Verdict.SHRINK
    forged = merkle.consistency_proof_from_leaves(5, rewritten[:9])
    assert assess(seen(5), checkpoint(9, rewritten), forged) is Verdict.INCONSISTENT
    assert assess(seen(5), checkpoint(9), None) is Verdict.INCONSISTENT  # no proof offered
    assert all(v.misbehaviour for v in (Verdict.FORK, Verdict.SHRINK, Verdict.INCONSISTENT))
    assert not any(v.misbehaviour for v in (Verdict.FIRST, Verdict.SAME, Verdict.EXTENDS))


@given(old=st.integers(1, 40), new=st.integers(1, 40), flip=st.integers(0, 39))
def test_a_rewritten_history_is_never_accepted(old: int, new: int, flip: int) -> None:
    rewritten = list(LEAVES)
    rewritten[flip] = merkle.leaf_hash(b"rewritten")
    proof = merkle.consistency_proof_from_leaves(old, rewritten[:new]) if old < new else None
    verdict = assess(seen(old), checkpoint(new, rewritten), proof)
    if flip < old:  # the part the witness had seen was changed
        assert verdict.misbehaviour
    elif new >= old:
        assert verdict in (Verdict.SAME, Verdict.EXTENDS)
