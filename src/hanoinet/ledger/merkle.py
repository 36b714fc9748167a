"""Merkle tree hashing and proofs of the custody ledger (RFC 9162, Certificate Transparency 2.0, section 2.1).

The custody ledger is an append-only list of leaves; its state at size ``n`` is committed to by one 32-byte
root, the Merkle Tree Hash ``MTH(D[n])``. Two proofs let anyone check the log without trusting it:

- an **inclusion proof** (section 2.1.3) shows that a leaf sits at a given index of the tree of a given size;
- a **consistency proof** (section 2.1.4) shows that the tree of a larger size extends the tree of a smaller
  size, i.e. the log only appended and never rewrote what it had already committed to.

This module is pure: no I/O, only ``hashlib``. Provers do not read storage themselves; they ask a callback
``get_node(level, index)`` for the hash of one *perfect* subtree (``2**level`` leaves starting at leaf
``index * 2**level``), so a storage layer of tiles, a database or an in-memory array can answer them. Those
hashes never change once the subtree is complete, which is what makes them cacheable and storable.

Verifiers take bytes and either return ``None`` or raise a :class:`ProofError` whose ``code`` names the
failed check. They follow the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step; the step
numbers are in the comments. Conventions and edge cases follow transparency-dev/merkle (the Go library
behind Trillian, Tessera and sigstore's Rekor), in particular for consistency from the empty tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from hanoinet.errors import HanoinetError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "CompactRange",
    "NodeSource",
    "NodeVisitor",
    "ProofError",
    "RootMismatch",
    "consistency_proof",
    "consistency_proof_from_leaves",
    "inclusion_proof",
    "inclusion_proof_from_leaves",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_nodes",
    "verify_consistency",
    "verify_inclusion",
]

#: SHA-256 output size; every leaf hash, node hash, root and proof element has exactly this length.
HASH_SIZE = 32

#: RFC 9162 carries tree sizes and leaf indices as uint64 (section 4.1, ``TreeHeadDataV2.tree_size``; 4.12,
#: ``InclusionProofDataV2.leaf_index``). Larger values cannot come from a conforming log, so they are refused
#: instead of being hashed into a proof that no other implementation could check.
MAX_TREE_SIZE = 2**64 - 1

# RFC 9162, section 2.1.1: the one-byte prefixes keep a leaf from ever being mistaken for an interior node
# (second-preimage resistance), so a proof cannot pass off a subtree as a leaf.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

#: RFC 9162, section 2.1.1: the hash of an empty list is the hash of an empty string, MTH({}) = SHA-256().
EMPTY_ROOT = _sha256(b"").digest()

#: ``get_node(level, index)`` returns the hash of the perfect subtree of ``2**level`` leaves starting at leaf
#: ``index * 2**level`` (a leaf hash when ``level`` is 0). Provers only ask for subtrees that are complete in
#: the tree they prove against.
NodeSource = Callable[[int, int], bytes]

#: ``visit(level, index, hash)`` is told of every perfect subtree a :class:`CompactRange` completes.
NodeVisitor = Callable[[int, int, bytes], None]


# --- errors -------------------------------------------------------------------------------------------------


class ProofError(HanoinetError):
    """A Merkle proof, or a value it is checked against, is not valid.

    ``code`` names the failed check and is stable for machines:

    - ``bad_hash``: a leaf hash, root, proof element or stored node is not a 32-byte SHA-256 value;
    - ``bad_size``: a tree size or leaf index is not an integer in ``[0, 2**64)``;
    - ``index_out_of_range``: the leaf index is not below the tree size;
    - ``size_shrinks``: the "new" tree is smaller than the "old" one;
    - ``empty_old_tree``: a consistency proof from the empty tree was asked for or offered;
    - ``bad_proof_size``: the proof does not have the number of hashes the sizes require;
    - ``root_mismatch``: the proof leads to another root (raised as :class:`RootMismatch`);
    - ``bad_compact_range``: a saved :class:`CompactRange` state does not match its size.
    """

    code = "proof_invalid"
    # The request was well formed but what it claims does not hold.
    http_status = 422


class RootMismatch(ProofError):
    """The proof leads to a root other than the one it is checked against.

    ``expected`` is the root the caller holds (from a checkpoint); ``calculated`` is the root the proof leads
    to. Keep both: with the signed checkpoints they are the evidence of what the log claimed.
    """

    code = "root_mismatch"

    def __init__(self, message: str, *, expected: bytes, calculated: bytes, hint: str = "") -> None:
        super().__init__(f"{message} (expected root {expected.hex()}, got {calculated.hex()})", hint=hint)
        self.expected = expected
        self.calculated = calculated


def _require_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        # Only immutable bytes: a bytearray could change after it was checked.
        shown = f"{len(value)} bytes" if isinstance(value, bytes) else f"a {type(value).__name__}"
        raise ProofError(
            f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, got {shown}",
            hint="pass raw digest bytes (not hex or base64 text) exactly as the log published them",
            code="bad_hash",
        )


def _require_hashes(values: Sequence[bytes], what: str) -> None:
    for i, value in enumerate(values):
        _require_hash(value, f"{what} [{i}]")


def _require_size(value: object, what: str) -> int:
    # bool is an int in Python; a True index is a bug, never a position in a log.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(
            f"{what} must be an integer from 0 to 2**64 - 1, got {value!r}",
            hint="tree sizes and leaf indices are unsigned 64-bit integers (RFC 9162, section 4)",
            code="bad_size",
        )
    return value


def _require_index(index: object, size: object) -> tuple[int, int]:
    checked_size = _require_size(size, "tree size")
    checked_index = _require_size(index, "leaf index")
    if checked_index >= checked_size:
        raise ProofError(
            f"leaf index {checked_index} is not in a tree of {checked_size} leaves (indices start at 0)",
            hint="ask for a proof against a checkpoint whose tree size is greater than the leaf's index",
            code="index_out_of_range",
        )
    return checked_index, checked_size


def _require_sizes(old_size: object, new_size: object) -> tuple[int, int]:
    old = _require_size(old_size, "old tree size")
    new = _require_size(new_size, "new tree size")
    if new < old:
        raise ProofError(
            f"the new tree size {new} is smaller than the old tree size {old}: a log never shrinks",
            hint="check the order of the arguments; a log that presents a smaller tree later has lost or "
            "removed entries, so keep both checkpoints as evidence",
            code="size_shrinks",
        )
    if old == 0:
        # RFC 9162 defines consistency proofs only for 0 < m (section 2.1.4.1). The empty tree commits to
        # nothing, so every log "extends" it and a proof would check nothing. transparency-dev/merkle refuses
        # it ("consistency proof from empty tree is meaningless", proof.Consistency and
        # RootFromConsistencyProof, even for 0 -> 0); so do we, so that "nothing was checked" can never be
        # read as "checked".
        raise ProofError(
            "a consistency proof from the empty tree (size 0) is meaningless: it commits to nothing",
            hint="with no earlier non-empty checkpoint there is nothing to compare; accept the first non-empty "
            "checkpoint on its signature and check consistency from it onwards",
            code="empty_old_tree",
        )
    return old, new


def _bad_proof_size(what: str, got: int, want: int) -> ProofError:
    return ProofError(
        f"{what} has {got} hashes where the tree sizes require {want}",
        hint="the proof does not belong to these sizes: ask the log again for this exact index and size, or "
        "these exact sizes",
        code="bad_proof_size",
    )


# --- hashing (RFC 9162, section 2.1.1) ---------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: ``SHA-256(0x00 || data)`` (RFC 9162, section 2.1.1).

    ``data`` is any byte string; for the custody ledger it is the hash of the event record, so the record
    itself can later be redacted without changing the log.
    """
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)`` (RFC 9162, section 2.1.1).

    Precondition: ``left`` and ``right`` are 32-byte hashes. Not checked here, because this is the inner loop
    of every tree build and proof; the public provers and verifiers check their inputs at the boundary.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def _root_unchecked(leaf_hashes: Sequence[bytes]) -> bytes:
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # RFC 9162 splits at the largest power of two smaller than n. That tree is the perfect tree over the next
    # power of two with the empty subtrees removed and one-child nodes collapsed, so hashing level by level
    # and carrying an odd last node up unchanged (never duplicating it, unlike Bitcoin) gives the same root.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash ``MTH(D[n])`` of a list of leaf hashes (RFC 9162, section 2.1.1).

    Precondition: every element is a 32-byte leaf hash (``leaf_hash`` of the entry), else ``ProofError``
    (``bad_hash``). The empty list gives :data:`EMPTY_ROOT`. Takes O(n) time and memory; a sequencer that
    extends a tree should keep a :class:`CompactRange` instead of rereading the leaves.
    """
    _require_hashes(leaf_hashes, "leaf hash")
    return _root_unchecked(leaf_hashes)


# --- the right edge of a growing tree ----------------------------------------------------------------------


class CompactRange:
    """The right edge of a tree of ``size`` leaves: the roots of its perfect subtrees, largest first.

    A tree of ``n`` leaves is the concatenation of perfect subtrees, one per set bit of ``n`` (for 13 =
    0b1101: 8 + 4 + 1 leaves). Their roots, ``popcount(n)`` hashes, are all a sequencer needs to append
    leaves and compute the new root: O(log n) memory, amortised O(1) hashes per leaf, no rereading of the
    tree ("compact range", transparency-dev/merkle ``compact.Range`` for the range ``[0, n)``).

    Persist ``size`` and ``hashes`` with each committed batch and rebuild with
    ``CompactRange(size=..., hashes=...)``; the constructor refuses a state whose hash count does not match
    the size.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, *, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Start from an empty tree, or resume from a saved right edge.

        Preconditions: ``size`` is in ``[0, 2**64)``; ``hashes`` are the 32-byte roots of the perfect subtrees
        of ``[0, size)``, largest first, so there are exactly ``popcount(size)`` of them. Else ``ProofError``.
        """
        checked = _require_size(size, "tree size")
        _require_hashes(hashes, "compact range hash")
        if len(hashes) != checked.bit_count():
            raise ProofError(
                f"a tree of {checked} leaves has {checked.bit_count()} perfect subtrees on its right edge, "
                f"but {len(hashes)} hashes were given",
                hint="restore the size and the hashes saved together with the same batch",
                code="bad_compact_range",
            )
        self._size = checked
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The roots of the perfect subtrees of ``[0, size)``, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes, visit: NodeVisitor | None = None) -> None:
        """Append one leaf hash (32 bytes, else ``ProofError``) at index ``size``.

        ``visit(level, index, hash)``, when given, is called for the leaf itself (level 0) and for every perfect
        subtree the leaf completes, bottom-up: exactly the nodes a storage layer must write so that
        ``get_node`` can later answer for them.
        """
        _require_hash(leaf_hash, "leaf hash")
        if self._size == MAX_TREE_SIZE:
            raise ProofError("the tree is full: RFC 9162 tree sizes are 64-bit", code="bad_size")
        current = leaf_hash
        index = self._size
        level = 0
        if visit is not None:
            visit(0, index, current)
        # Each trailing 1 bit of the old size is a perfect subtree of the same height just left of the new
        # leaf: merge with it (the carry of a binary increment) and go up one level.
        while index & 1:
            current = node_hash(self._hashes.pop(), current)
            index >>= 1
            level += 1
            if visit is not None:
                visit(level, index, current)
        self._hashes.append(current)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes], visit: NodeVisitor | None = None) -> None:
        """Append several leaf hashes in order; see :meth:`append`."""
        for leaf in leaf_hashes:
            self.append(leaf, visit)

    def root(self) -> bytes:
        """The Merkle Tree Hash of the ``size`` leaves appended so far (:data:`EMPTY_ROOT` when none)."""
        if not self._hashes:
            return EMPTY_ROOT
        # RFC 9162 puts the largest perfect subtree on the left and recurses on the rest, so the right edge
        # folds from the smallest subtree leftwards.
        current = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            current = node_hash(left, current)
        return current


# --- proving from perfect subtrees --------------------------------------------------------------------------


def _node(get_node: NodeSource, level: int, index: int) -> bytes:
    value = get_node(level, index)
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        # A storage fault, not the caller's: say which node, so the operator can find it.
        _require_hash(value, f"stored node (level {level}, index {index})")
    return value


def _range_hash(begin: int, end: int, get_node: NodeSource) -> bytes:
    # MTH(D[begin:end]) for a subtree on the right border of the tree: begin is a multiple of a power of two
    # larger than end - begin, so the range splits into one perfect subtree per set bit of its length, largest
    # first, each aligned to its own size; RFC 9162 nests them to the right.
    length = end - begin
    parts: list[bytes] = []
    position = begin
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            parts.append(_node(get_node, level, position >> level))
            position += 1 << level
    current = parts.pop()
    while parts:
        current = node_hash(parts.pop(), current)
    return current


def _path(level: int, index: int, size: int, get_node: NodeSource) -> list[bytes]:
    # The siblings of the path from the perfect node (level, index) up to the root of the tree of `size`
    # leaves, lowest first: RFC 9162 PATH (section 2.1.3.1) unrolled bottom-up. The RFC tree is the perfect
    # tree over the next power of two with empty subtrees removed and one-child nodes collapsed, so a level
    # whose sibling lies wholly beyond the tree contributes nothing, and a sibling cut by the tree's end (the
    # "ephemeral" node, at most one per path) is the hash of that partial range.
    proof: list[bytes] = []
    while (1 << level) < size:
        sibling = index ^ 1
        begin = sibling << level
        if begin < size:
            if begin + (1 << level) <= size:
                proof.append(_node(get_node, level, sibling))
            else:
                proof.append(_range_hash(begin, size, get_node))
        index >>= 1
        level += 1
    return proof


def root_from_nodes(size: int, get_node: NodeSource) -> bytes:
    """The Merkle Tree Hash of the first ``size`` leaves, from at most ``log2(size) + 1`` stored nodes.

    Precondition: ``get_node`` answers for every perfect subtree within ``[0, size)`` (see :data:`NodeSource`).
    ``size`` 0 gives :data:`EMPTY_ROOT`. Lets a log state the root of any past size, e.g. for a checkpoint.
    """
    checked = _require_size(size, "tree size")
    if checked == 0:
        return EMPTY_ROOT
    return _range_hash(0, checked, get_node)


def inclusion_proof(index: int, size: int, get_node: NodeSource) -> list[bytes]:
    """The inclusion proof ``PATH(index, D[size])`` of RFC 9162, section 2.1.3.1, lowest sibling first.

    Preconditions: ``0 <= index < size < 2**64`` (else ``ProofError``: ``index_out_of_range``, ``bad_size``);
    ``get_node`` answers for the perfect subtrees of the tree of ``size`` leaves. It is called at most about
    ``2 * log2(size)`` times, only for complete subtrees, whose hashes never change.
    """
    checked_index, checked_size = _require_index(index, size)
    return _path(0, checked_index, checked_size, get_node)


def consistency_proof(old_size: int, new_size: int, get_node: NodeSource) -> list[bytes]:
    """The consistency proof ``PROOF(old_size, D[new_size])`` of RFC 9162, section 2.1.4.1.

    Preconditions: ``0 < old_size <= new_size < 2**64`` (else ``ProofError``: ``empty_old_tree``,
    ``size_shrinks``, ``bad_size``); ``get_node`` answers for the perfect subtrees of the tree of ``new_size``
    leaves. Equal sizes give the empty proof.
    """
    old, new = _require_sizes(old_size, new_size)
    if old == new:
        return []
    # The RFC's SUBPROOF recursion, unrolled: the last perfect subtree of the old tree, D[old - 2**k : old]
    # with 2**k the lowest set bit of `old`, is also a perfect subtree of the new tree. The proof is that
    # node, then its inclusion path in the new tree. When `old` is a power of two that node is the whole old
    # tree, whose root the verifier already holds, so it is left out (RFC 9162, section 2.1.4.2, step 2 puts
    # it back).
    level = (old & -old).bit_length() - 1
    index = (old - 1) >> level
    proof = [] if old == 1 << level else [_node(get_node, level, index)]
    proof.extend(_path(level, index, new, get_node))
    return proof


def _leaves_source(leaf_hashes: Sequence[bytes]) -> NodeSource:
    def get_node(level: int, index: int) -> bytes:
        return _root_unchecked(leaf_hashes[index << level : (index + 1) << level])

    return get_node


def inclusion_proof_from_leaves(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of all of ``leaf_hashes``.

    Preconditions: ``0 <= index < len(leaf_hashes)``; every element is a 32-byte leaf hash. Hashes the whole
    list (O(n)): for tests, tools and small trees; a log answers from stored nodes with
    :func:`inclusion_proof`.
    """
    _require_hashes(leaf_hashes, "leaf hash")
    return inclusion_proof(index, len(leaf_hashes), _leaves_source(leaf_hashes))


def consistency_proof_from_leaves(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The consistency proof from the first ``old_size`` leaves to the tree of all of ``leaf_hashes``.

    Preconditions: ``0 < old_size <= len(leaf_hashes)``; every element is a 32-byte leaf hash. Hashes the
    whole list (O(n)); a log answers from stored nodes with :func:`consistency_proof`.
    """
    _require_hashes(leaf_hashes, "leaf hash")
    return consistency_proof(old_size, len(leaf_hashes), _leaves_source(leaf_hashes))


# --- verification -------------------------------------------------------------------------------------------


def _inclusion_proof_size(index: int, size: int) -> tuple[int, int]:
    # (inner, border): below the level where the paths to `index` and to the last leaf `size - 1` meet, every
    # level has a sibling (inner); above it only the levels where the path turns right have one, a left
    # sibling (border). transparency-dev/merkle decompInclProof.
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root``.

    RFC 9162, section 2.1.3.2. Preconditions: ``0 <= index < size < 2**64``; ``leaf_hash``, ``root`` and every
    proof element are 32-byte hashes. Returns ``None`` when the proof holds; otherwise raises
    :class:`ProofError` (``bad_hash``, ``bad_size``, ``index_out_of_range``, ``bad_proof_size``) or
    :class:`RootMismatch`.

    The proof binds the leaf, its index and the root, but the tree size only through the proof's shape: leaf
    0 has the same proof in trees of 5 and 6 leaves (three right siblings), so a claim with the wrong size
    but the right root passes. Take ``size`` and ``root`` together from one signed checkpoint, never from
    separate sources.
    """
    _require_hash(leaf_hash, "leaf hash")
    _require_hash(root, "root")
    _require_hashes(proof, "inclusion proof hash")
    # Step 1: the index must be inside the tree.
    index, size = _require_index(index, size)
    # The RFC's loop detects a wrong length on its own (steps 4a and 5); checking it first says how many
    # hashes were expected and spends no hashing on a malformed proof.
    inner, border = _inclusion_proof_size(index, size)
    if len(proof) != inner + border:
        raise _bad_proof_size("the inclusion proof", len(proof), inner + border)
    # Step 2.
    fn, sn = index, size - 1
    # Step 3.
    r = leaf_hash
    # Step 4.
    for p in proof:
        # 4a: the path has reached the root but the proof goes on.
        if sn == 0:
            raise _bad_proof_size("the inclusion proof", len(proof), inner + border)
        # 4b: a left sibling (fn is a right child), or fn is the last node of its level and has no right
        # sibling, so the next hash is the one of the first ancestor that has a sibling, on its left.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c.
        fn >>= 1
        sn >>= 1
    # Step 5: the proof must have reached the root (sn == 0) and lead to the given root.
    if sn != 0:
        raise _bad_proof_size("the inclusion proof", len(proof), inner + border)
    if r != root:
        raise RootMismatch(
            f"leaf {index} of the tree of {size} leaves is not the given entry, or the proof or root is wrong",
            expected=root,
            calculated=r,
            hint="the entry is not at this position in the log that signed this root; do not rely on it, and "
            "ask the log for a fresh proof against the same checkpoint",
        )


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> None:
    """Check that the tree of ``new_size`` leaves with root ``new_root`` extends the one of ``old_size``.

    RFC 9162, section 2.1.4.2. Preconditions: ``0 < old_size <= new_size < 2**64``; roots and proof elements
    are 32-byte hashes. Equal sizes need an empty proof and equal roots (transparency-dev/merkle; the RFC only
    defines ``old_size < new_size``). ``old_size`` 0 is refused with ``empty_old_tree``: see
    :func:`consistency_proof`. Returns ``None`` when the proof holds; otherwise raises :class:`ProofError`
    (``bad_hash``, ``bad_size``, ``size_shrinks``, ``empty_old_tree``, ``bad_proof_size``) or
    :class:`RootMismatch`.

    As with :func:`verify_inclusion`, each size is bound to its root by the signed checkpoint it comes from,
    not by the proof alone (the proof from 4 to 5 leaves also passes as one from 4 to 6 with the same roots).
    """
    _require_hash(old_root, "old root")
    _require_hash(new_root, "new root")
    _require_hashes(proof, "consistency proof hash")
    old, new = _require_sizes(old_size, new_size)
    if old == new:
        if proof:
            raise _bad_proof_size("the consistency proof between equal sizes", len(proof), 0)
        if old_root != new_root:
            raise RootMismatch(
                f"the log signed two different roots for the same tree size {old}: it has forked",
                expected=old_root,
                calculated=new_root,
                hint="keep both signed checkpoints: together they prove the log showed different histories; "
                "do not cosign",
            )
        return
    # Step 1 (an empty proof fails) is part of this exact-length check: old < new needs at least one hash.
    expected_size = _consistency_proof_size(old, new)
    if len(proof) != expected_size:
        raise _bad_proof_size("the consistency proof", len(proof), expected_size)
    # Step 2: when the old tree is a perfect subtree of the new one, its root is the first node of the path.
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = old - 1, new - 1
    # Step 4: start from the top of the last perfect subtree of the old tree.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: fr rebuilds the old root, sr the new one, from the same hashes.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        # 6a.
        if sn == 0:
            raise _bad_proof_size("the consistency proof", len(proof), expected_size)
        # 6b: a left sibling belongs to both trees; a right sibling only to the new one.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # 6c.
        fn >>= 1
        sn >>= 1
    # Step 7: the path must end at the root and rebuild both roots.
    if sn != 0:
        raise _bad_proof_size("the consistency proof", len(proof), expected_size)
    if fr != old_root:
        raise RootMismatch(
            f"the consistency proof does not lead to the old root of size {old}: either the proof is wrong or "
            "the log's tree of that size is not the one you saw, a fork or a rewrite of history",
            expected=old_root,
            calculated=fr,
            hint="ask the log for the proof again; if it persists, keep both signed checkpoints as evidence and "
            "do not cosign",
        )
    if sr != new_root:
        raise RootMismatch(
            f"the log's new tree of size {new} does not extend the old one of size {old}: a fork or a rewrite "
            "of history, or a wrong proof",
            expected=new_root,
            calculated=sr,
            hint="ask the log for the proof again; if it persists, keep both signed checkpoints as evidence and "
            "do not cosign",
        )


def _consistency_proof_size(old: int, new: int) -> int:
    # The path from the last perfect subtree of the old tree (height = trailing zeros of `old`) to the root
    # of the new tree, plus that subtree's own root unless it is the whole old tree (transparency-dev/merkle
    # RootFromConsistencyProof).
    inner, border = _inclusion_proof_size(old - 1, new)
    shift = (old & -old).bit_length() - 1
    seed = 0 if old == 1 << shift else 1
    return seed + inner - shift + border
