"""A naive Merkle tree written straight from the recursive definitions of RFC 9162, section 2.1.

Deliberately independent of ``hanoinet.ledger.merkle``: its own hashing, plain recursion over lists of entries,
no bit tricks. Slow (it rehashes subtrees again and again), which is fine for the small trees it checks.
"""

from __future__ import annotations

import hashlib


def _largest_power_of_two_below(n: int) -> int:
    # "k be the largest power of two smaller than n (i.e., k < n <= 2k)", section 2.1.1.
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]), section 2.1.1, over raw entries (not leaf hashes)."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:])).digest()


def path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), section 2.1.3.1."""
    n = len(entries)
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), section 2.1.4.1."""
    return _subproof(m, entries, known=True)


def _subproof(m: int, entries: list[bytes], known: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if known else [mth(entries)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, entries[:k], known), mth(entries[k:])]
    return [*_subproof(m - k, entries[k:], False), mth(entries[:k])]


# --- shapes: what a verifier can tell apart ------------------------------------------------------------------
#
# A verifier sees only the proof's hashes and the order in which they are combined. Two (index, size) pairs
# whose proofs have the same length and the same left/right sides make the verifier compute the very same
# hash expression, so no verifier can tell them apart (e.g. leaf 0 in trees of 5 and 6 leaves: three right
# siblings). The tree size is bound by the signed checkpoint, not by the proof. These functions give the
# sides from the recursive definitions, without hashing, so that mutation tests can tell a mutation the
# verifier must refuse from one it cannot see.


def path_sides(m: int, n: int) -> tuple[str, ...]:
    """For PATH(m, D[n]): "L" where the proof element is a left sibling, "R" where it is a right one."""
    if n == 1:
        return ()
    k = _largest_power_of_two_below(n)
    if m < k:
        return (*path_sides(m, k), "R")
    return (*path_sides(m - k, n - k), "L")


def proof_sides(m: int, n: int) -> tuple[bool, tuple[str, ...]]:
    """For PROOF(m, D[n]): whether the old root itself seeds the path, and the sides of the other elements.

    The first element of SUBPROOF(.., false) is the seed (the root of the old tree's last perfect subtree);
    the rest are siblings on its path, left ("L", in both trees) or right ("R", only in the new tree).
    """
    seeded_by_old_root, sides = _subproof_sides(m, n, known=True)
    return seeded_by_old_root, tuple(sides)


def _subproof_sides(m: int, n: int, known: bool) -> tuple[bool, list[str]]:
    if m == n:
        return (True, []) if known else (False, [])
    k = _largest_power_of_two_below(n)
    if m <= k:
        seeded, sides = _subproof_sides(m, k, known)
        return seeded, [*sides, "R"]
    seeded, sides = _subproof_sides(m - k, n - k, False)
    return seeded, [*sides, "L"]
