"""RFC 9162 Merkle hashing and proofs: published test vectors, single-bit mutations, a naive reference.

Tested the three ways transparency-dev/merkle tests its Go code: fixed cases (its ``proof/verify_test.go``
vectors, which are the RFC 6962 test inputs and roots used by Certificate Transparency since its C++
reference), every single-bit mutation of a valid proof, and a naive implementation of the RFC's recursive
definitions compared exhaustively on small trees. Random trees are in ``test_merkle_properties.py``.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hanoinet.errors import HanoinetError
from hanoinet.ledger import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    CompactRange,
    ProofError,
    RootMismatch,
    consistency_proof,
    consistency_proof_from_leaves,
    inclusion_proof,
    inclusion_proof_from_leaves,
    leaf_hash,
    node_hash,
    root,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger import reference


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- transparency-dev/merkle proof/verify_test.go (the RFC 6962 test data) -----------------------------------

# The eight standard entries of the Certificate Transparency test data.
ENTRIES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                          "606162636465666768696a6b6c6d6e6f")]
LEAVES = [leaf_hash(e) for e in ENTRIES]

# ROOTS[n - 1] is the root of the first n entries.
ROOTS = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]

# (leaf index, tree size, proof); the Go table numbers leaves from 1.
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]

# (old size, new size, proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def leaves_source(leaves: list[bytes], size: int) -> Callable[[int, int], bytes]:
    """A get_node over a list of leaves that also checks the prover asks only for complete subtrees."""

    def get_node(level: int, index: int) -> bytes:
        assert level >= 0
        assert index >= 0
        assert (index + 1) << level <= size, f"asked for ({level}, {index}), not complete in a tree of {size}"
        return reference_root(leaves[index << level : (index + 1) << level])

    return get_node


def reference_root(leaves: list[bytes]) -> bytes:
    # The root of leaf hashes by the RFC recursion, to stay independent of the code under test.
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


def flipped(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


# --- hashing ------------------------------------------------------------------------------------------------


def test_hashes_are_rfc9162_domain_separated_sha256() -> None:
    assert h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == EMPTY_ROOT
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"data") == hashlib.sha256(b"\x00data").digest()
    assert node_hash(LEAVES[0], LEAVES[1]) == hashlib.sha256(b"\x01" + LEAVES[0] + LEAVES[1]).digest()
    # The prefixes make a leaf over 64 bytes differ from the node over the same 64 bytes.
    assert leaf_hash(LEAVES[0] + LEAVES[1]) != node_hash(LEAVES[0], LEAVES[1])


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors(size: int) -> None:
    expected = EMPTY_ROOT if size == 0 else ROOTS[size - 1]
    assert root(LEAVES[:size]) == expected
    builder = CompactRange()
    builder.extend(LEAVES[:size])
    assert builder.root() == expected
    assert root_from_nodes(size, leaves_source(LEAVES, size)) == expected
    assert reference.mth(ENTRIES[:size]) == expected


# --- inclusion: vectors and the transparency-dev corruption probes ---------------------------------------------


def inclusion_probes(index: int, size: int, proof: list[bytes], root_: bytes,
                     leaf: bytes) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """proof/verify_test.go corruptInclusionProof: wrong index, size, leaf, root; garbage; removed, inserted."""
    yield "index - 1", (leaf, index - 1, size, proof, root_)
    yield "index + 1", (leaf, index + 1, size, proof, root_)
    yield "index ^ 2", (leaf, index ^ 2, size, proof, root_)
    yield "size * 2", (leaf, index, size * 2, proof, root_)
    yield "size / 2", (leaf, index, size // 2, proof, root_)
    yield "wrong leaf", (b"WrongLeaf", index, size, proof, root_)
    yield "empty root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "random root", (leaf, index, size, proof, SOME_HASH)
    yield "trailing garbage", (leaf, index, size, [*proof, b""], root_)
    yield "trailing root", (leaf, index, size, [*proof, root_], root_)
    yield "preceding garbage", (leaf, index, size, [b"", *proof], root_)
    yield "preceding root", (leaf, index, size, [root_, *proof], root_)
    for i in range(len(proof)):
        yield f"proof[{i}] bit 3", (leaf, index, size, [*proof[:i], flipped(proof[i], 3), *proof[i + 1:]], root_)
    if proof:
        yield "removed component", (leaf, index, size, proof[:-1], root_)
    if len(proof) > 1:
        yield "inserted component", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root_)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors_are_produced_and_verified(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(index, size, leaves_source(LEAVES, size)) == proof
    assert inclusion_proof_from_leaves(index, LEAVES[:size]) == proof
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size - 1])
    accepted = []
    for name, args in inclusion_probes(index, size, proof, ROOTS[size - 1], LEAVES[index]):
        try:
            verify_inclusion(*args)
        except ProofError:
            continue
        accepted.append(name)
    assert accepted == []


def test_inclusion_in_a_one_leaf_tree_is_the_leaf_itself() -> None:
    only = leaf_hash(b"data")
    verify_inclusion(only, 0, 1, [], only)
    with pytest.raises(RootMismatch):
        verify_inclusion(only, 0, 1, [], SOME_HASH)
    with pytest.raises(ProofError) as refused:
        verify_inclusion(b"", 0, 1, [], only)
    assert refused.value.code == "bad_hash"


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1)])
def test_inclusion_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ProofError) as refused:
        verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    assert refused.value.code == "index_out_of_range"
    with pytest.raises(ProofError) as refused:
        inclusion_proof(index, size, leaves_source(LEAVES, size))
    assert refused.value.code == "index_out_of_range"


# --- consistency: vectors, corruption probes, and the edge cases -------------------------------------------


def consistency_probes(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> Iterator[tuple[str, tuple[int, int, list[bytes], bytes, bytes]]]:
    """proof/verify_test.go corruptConsistencyProof."""
    yield "old - 1", (old - 1, new, proof, old_root, new_root)
    yield "old + 1", (old + 1, new, proof, old_root, new_root)
    yield "old ^ 2", (old ^ 2, new, proof, old_root, new_root)
    yield "new * 2", (old, new * 2, proof, old_root, new_root)
    yield "new / 2", (old, new // 2, proof, old_root, new_root)
    yield "wrong old root", (old, new, proof, b"WrongRoot", new_root)
    yield "wrong new root", (old, new, proof, old_root, b"WrongRoot")
    yield "swapped roots", (old, new, proof, new_root, old_root)
    yield "empty proof", (old, new, [], old_root, new_root)
    yield "trailing garbage", (old, new, [*proof, b""], old_root, new_root)
    yield "trailing old root", (old, new, [*proof, old_root], old_root, new_root)
    yield "trailing new root", (old, new, [*proof, new_root], old_root, new_root)
    yield "preceding garbage", (old, new, [b"", *proof], old_root, new_root)
    yield "preceding old root", (old, new, [old_root, *proof], old_root, new_root)
    yield "preceding new root", (old, new, [new_root, *proof], old_root, new_root)
    yield "preceding proof[0]", (old, new, [proof[0], *proof], old_root, new_root)
    yield "truncated proof", (old, new, proof[:-1], old_root, new_root)
    for i in range(len(proof)):
        yield f"proof[{i}] bit 4", (old, new, [*proof[:i], flipped(proof[i], 4), *proof[i + 1:]], old_root, new_root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors_are_produced_and_verified(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, new, leaves_source(LEAVES, new)) == proof
    assert consistency_proof_from_leaves(old, LEAVES[:new]) == proof
    verify_consistency(old, new, proof, ROOTS[old - 1], ROOTS[new - 1])
    if not proof:
        return
    accepted = []
    for name, args in consistency_probes(old, new, ROOTS[old - 1], ROOTS[new - 1], proof):
        try:
            verify_consistency(*args)
        except ProofError:
            continue
        accepted.append(name)
    assert accepted == []


ROOT_A = hashlib.sha256(b"don't care 1").digest()
ROOT_B = hashlib.sha256(b"don't care 2").digest()


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "code"),
    [
        # transparency-dev/merkle's static probes (testdata generator, latest version); None means accepted.
        (0, 0, ROOT_A, ROOT_B, [], "empty_old_tree"),
        (1, 1, ROOT_A, ROOT_B, [], "root_mismatch"),
        (0, 0, ROOT_A, ROOT_A, [], "empty_old_tree"),
        (0, 1, ROOT_A, ROOT_B, [], "empty_old_tree"),
        (1, 1, ROOT_B, ROOT_B, [], None),
        (1, 0, ROOT_A, ROOT_B, [], "size_shrinks"),
        (2, 1, ROOT_A, ROOT_B, [], "size_shrinks"),
        (1, 2, ROOT_A, ROOT_B, [], "bad_proof_size"),
        (0, 0, EMPTY_ROOT, ROOT_B, [], "empty_old_tree"),
        (1, 1, EMPTY_ROOT, ROOT_B, [], "root_mismatch"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "empty_old_tree"),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "empty_old_tree"),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "bad_proof_size"),
        # The same size seen with two roots is a fork, whatever the size.
        (5, 5, ROOTS[4], ROOTS[5], [], "root_mismatch"),
        (5, 5, ROOTS[4], ROOTS[4], [], None),
    ],
)
def test_consistency_edge_cases_follow_transparency_dev(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], code: str | None
) -> None:
    if code is None:
        verify_consistency(old, new, proof, old_root, new_root)
        return
    with pytest.raises(ProofError) as refused:
        verify_consistency(old, new, proof, old_root, new_root)
    assert refused.value.code == code


def test_consistency_proofs_from_the_empty_tree_or_to_a_smaller_tree_are_not_produced() -> None:
    source = leaves_source(LEAVES, 8)
    with pytest.raises(ProofError) as refused:
        consistency_proof(0, 8, source)
    assert refused.value.code == "empty_old_tree"
    with pytest.raises(ProofError) as refused:
        consistency_proof(0, 0, source)
    assert refused.value.code == "empty_old_tree"
    with pytest.raises(ProofError) as refused:
        consistency_proof(5, 4, source)
    assert refused.value.code == "size_shrinks"
    assert consistency_proof(8, 8, source) == []


def test_a_rewritten_history_is_reported_as_such() -> None:
    # The log rewrote entry 2 after publishing the tree of size 3, then grew to 8.
    rewritten = [*LEAVES[:2], leaf_hash(b"rewritten"), *LEAVES[3:]]
    proof = consistency_proof_from_leaves(3, rewritten)
    with pytest.raises(RootMismatch) as refused:
        verify_consistency(3, 8, proof, ROOTS[2], root(rewritten))
    assert refused.value.expected == ROOTS[2]
    assert refused.value.calculated == root(rewritten[:3])
    assert "fork or a rewrite" in refused.value.message
    assert refused.value.hint
    # Given the proof of the honest log, the rewritten new root is what does not match.
    honest = consistency_proof_from_leaves(3, LEAVES)
    with pytest.raises(RootMismatch) as refused:
        verify_consistency(3, 8, honest, ROOTS[2], root(rewritten))
    assert "does not extend the old one" in refused.value.message


# --- every single-bit mutation ------------------------------------------------------------------------------


def _inclusion_accepts(leaf: bytes, index: int, size: int, proof: list[bytes], root_: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root_)
    except ProofError:
        return False
    return True


def _consistency_accepts(old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes) -> bool:
    try:
        verify_consistency(old, new, proof, old_root, new_root)
    except ProofError:
        return False
    return True


def _same_inclusion_shape(index: int, size: int, other_index: int, other_size: int) -> bool:
    if not 0 <= other_index < other_size <= 64:
        return False
    return reference.path_sides(index, size) == reference.path_sides(other_index, other_size)


def _same_consistency_shape(old: int, new: int, other_old: int, other_new: int) -> bool:
    if not 0 < other_old <= other_new <= 64:
        return False
    return reference.proof_sides(old, new) == reference.proof_sides(other_old, other_new)


@pytest.mark.parametrize(("index", "size"), [(i, n) for n in range(1, 9) for i in range(n)])
def test_every_single_bit_mutation_of_an_inclusion_claim_fails(index: int, size: int) -> None:
    leaf, root_ = LEAVES[index], ROOTS[size - 1]
    proof = inclusion_proof_from_leaves(index, LEAVES[:size])
    assert _inclusion_accepts(leaf, index, size, proof, root_)
    for bit in range(256):
        for i in range(len(proof)):
            mutated = [*proof[:i], flipped(proof[i], bit), *proof[i + 1:]]
            with pytest.raises(RootMismatch):
                verify_inclusion(leaf, index, size, mutated, root_)
        with pytest.raises(RootMismatch):
            verify_inclusion(flipped(leaf, bit), index, size, proof, root_)
        with pytest.raises(RootMismatch):
            verify_inclusion(leaf, index, size, proof, flipped(root_, bit))
    for bit in range(64):
        assert not _inclusion_accepts(leaf, index ^ (1 << bit), size, proof, root_), f"index bit {bit}"
        # The proof binds the index, but the size only up to the proof's shape: leaf 0 of 5 and of 6 leaves
        # have the same three right siblings. The size is bound by the signed checkpoint, with the root.
        other = size ^ (1 << bit)
        expected = _same_inclusion_shape(index, size, index, other)
        assert _inclusion_accepts(leaf, index, other, proof, root_) == expected, f"size bit {bit}"


@pytest.mark.parametrize(("old", "new"), [(m, n) for n in range(2, 9) for m in range(1, n)])
def test_every_single_bit_mutation_of_a_consistency_claim_fails(old: int, new: int) -> None:
    old_root, new_root = ROOTS[old - 1], ROOTS[new - 1]
    proof = consistency_proof_from_leaves(old, LEAVES[:new])
    assert _consistency_accepts(old, new, proof, old_root, new_root)
    for bit in range(256):
        for i in range(len(proof)):
            mutated = [*proof[:i], flipped(proof[i], bit), *proof[i + 1:]]
            with pytest.raises(RootMismatch):
                verify_consistency(old, new, mutated, old_root, new_root)
        with pytest.raises(RootMismatch):
            verify_consistency(old, new, proof, flipped(old_root, bit), new_root)
        with pytest.raises(RootMismatch):
            verify_consistency(old, new, proof, old_root, flipped(new_root, bit))
    for bit in range(64):
        other_old, other_new = old ^ (1 << bit), new ^ (1 << bit)
        expected = _same_consistency_shape(old, new, other_old, new)
        assert _consistency_accepts(other_old, new, proof, old_root, new_root) == expected, f"old size bit {bit}"
        expected = _same_consistency_shape(old, new, old, other_new)
        assert _consistency_accepts(old, other_new, proof, old_root, new_root) == expected, f"new size bit {bit}"


def test_size_mutations_the_proof_cannot_see_are_rare_and_only_of_the_same_shape() -> None:
    # The documented limit, measured: leaf 0 of 5 and 6 leaves, and old size 4 to new sizes 5 and 6.
    proof = inclusion_proof_from_leaves(0, LEAVES[:5])
    assert inclusion_proof_from_leaves(0, LEAVES[:6]) != proof
    verify_inclusion(LEAVES[0], 0, 6, proof, ROOTS[4])  # accepted: the verifier cannot tell the size
    with pytest.raises(RootMismatch):
        verify_inclusion(LEAVES[0], 0, 6, proof, ROOTS[5])  # but not against the real root of 6 leaves
    proof = consistency_proof_from_leaves(4, LEAVES[:5])
    verify_consistency(4, 6, proof, ROOTS[3], ROOTS[4])
    with pytest.raises(RootMismatch):
        verify_consistency(4, 6, proof, ROOTS[3], ROOTS[5])


# --- against the naive reference, exhaustively on small trees --------------------------------------------------

SMALL = 64
SMALL_ENTRIES = [f"custody event {i}".encode() for i in range(SMALL)]
SMALL_LEAVES = [leaf_hash(e) for e in SMALL_ENTRIES]
SMALL_ROOTS = [reference.mth(SMALL_ENTRIES[:n]) for n in range(SMALL + 1)]


def test_roots_equal_the_reference_for_every_size() -> None:
    builder = CompactRange()
    for n in range(SMALL + 1):
        assert root(SMALL_LEAVES[:n]) == SMALL_ROOTS[n], n
        assert builder.root() == SMALL_ROOTS[n], n
        assert root_from_nodes(n, leaves_source(SMALL_LEAVES, n)) == SMALL_ROOTS[n], n
        if n < SMALL:
            builder.append(SMALL_LEAVES[n])


@pytest.mark.parametrize("size", range(1, SMALL + 1))
def test_inclusion_proofs_equal_the_reference_for_every_index(size: int) -> None:
    entries = SMALL_ENTRIES[:size]
    for index in range(size):
        calls: list[tuple[int, int]] = []
        source = leaves_source(SMALL_LEAVES, size)

        def counting(level: int, node: int, source: Callable[[int, int], bytes] = source,
                     calls: list[tuple[int, int]] = calls) -> bytes:
            calls.append((level, node))
            return source(level, node)

        proof = inclusion_proof(index, size, counting)
        assert proof == reference.path(index, entries), (index, size)
        assert len(calls) <= 2 * size.bit_length(), (index, size, calls)
        assert inclusion_proof_from_leaves(index, SMALL_LEAVES[:size]) == proof
        verify_inclusion(SMALL_LEAVES[index], index, size, proof, SMALL_ROOTS[size])


@pytest.mark.parametrize("new", range(1, SMALL + 1))
def test_consistency_proofs_equal_the_reference_for_every_old_size(new: int) -> None:
    entries = SMALL_ENTRIES[:new]
    for old in range(1, new + 1):
        calls: list[tuple[int, int]] = []
        source = leaves_source(SMALL_LEAVES, new)

        def counting(level: int, node: int, source: Callable[[int, int], bytes] = source,
                     calls: list[tuple[int, int]] = calls) -> bytes:
            calls.append((level, node))
            return source(level, node)

        proof = consistency_proof(old, new, counting)
        assert proof == reference.proof(old, entries), (old, new)
        assert len(calls) <= 2 * new.bit_length() + 1, (old, new, calls)
        assert consistency_proof_from_leaves(old, SMALL_LEAVES[:new]) == proof
        verify_consistency(old, new, proof, SMALL_ROOTS[old], SMALL_ROOTS[new])


def test_reference_shapes_describe_the_reference_proofs() -> None:
    # The shape helpers used by the mutation tests must themselves agree with the proofs they describe.
    for new in range(1, 33):
        for index in range(new):
            assert len(reference.path_sides(index, new)) == len(reference.path(index, SMALL_ENTRIES[:new]))
        for old in range(1, new + 1):
            seeded, sides = reference.proof_sides(old, new)
            assert (0 if seeded else 1) + len(sides) == len(reference.proof(old, SMALL_ENTRIES[:new]))
            assert seeded == (old == new or old & (old - 1) == 0)


# --- inputs refused at the boundary --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "00" * 32, bytearray(32), None])
def test_hashes_of_the_wrong_form_are_refused(bad: object) -> None:
    proof = inclusion_proof_from_leaves(2, LEAVES)
    cases: list[Callable[[], object]] = [
        lambda: verify_inclusion(bad, 2, 8, proof, ROOTS[7]),  # type: ignore[arg-type]
        lambda: verify_inclusion(LEAVES[2], 2, 8, proof, bad),  # type: ignore[arg-type]
        lambda: verify_inclusion(LEAVES[2], 2, 8, [*proof[:2], bad], ROOTS[7]),  # type: ignore[list-item]
        lambda: verify_consistency(3, 8, [bad], ROOTS[2], ROOTS[7]),  # type: ignore[list-item]
        lambda: verify_consistency(3, 8, [], bad, ROOTS[7]),  # type: ignore[arg-type]
        lambda: root([*LEAVES[:3], bad]),  # type: ignore[list-item]
        lambda: CompactRange().append(bad),  # type: ignore[arg-type]
        lambda: inclusion_proof(0, 2, lambda level, index: bad),  # type: ignore[arg-type, return-value]
    ]
    for case in cases:
        with pytest.raises(ProofError) as refused:
            case()
        assert refused.value.code == "bad_hash"
        assert "32-byte" in refused.value.message


@pytest.mark.parametrize("bad", [-1, True, MAX_TREE_SIZE + 1, 2.0, "3"])
def test_sizes_and_indices_of_the_wrong_form_are_refused(bad: object) -> None:
    source = leaves_source(LEAVES, 8)
    cases: list[Callable[[], object]] = [
        lambda: verify_inclusion(LEAVES[0], bad, 8, [], ROOTS[7]),  # type: ignore[arg-type]
        lambda: verify_inclusion(LEAVES[0], 0, bad, [], ROOTS[7]),  # type: ignore[arg-type]
        lambda: verify_consistency(bad, 8, [], ROOTS[0], ROOTS[7]),  # type: ignore[arg-type]
        lambda: verify_consistency(1, bad, [], ROOTS[0], ROOTS[7]),  # type: ignore[arg-type]
        lambda: inclusion_proof(bad, 8, source),  # type: ignore[arg-type]
        lambda: consistency_proof(1, bad, source),  # type: ignore[arg-type]
        lambda: root_from_nodes(bad, source),  # type: ignore[arg-type]
        lambda: CompactRange(size=bad),  # type: ignore[arg-type]
    ]
    for case in cases:
        with pytest.raises(ProofError) as refused:
            case()
        assert refused.value.code == "bad_size"


def test_proofs_of_the_wrong_length_say_what_was_expected() -> None:
    proof = inclusion_proof_from_leaves(2, LEAVES)
    with pytest.raises(ProofError) as refused:
        verify_inclusion(LEAVES[2], 2, 8, proof[:2], ROOTS[7])
    assert refused.value.code == "bad_proof_size"
    assert "has 2 hashes where the tree sizes require 3" in refused.value.message
    with pytest.raises(ProofError) as refused:
        verify_consistency(3, 8, [*consistency_proof_from_leaves(3, LEAVES), SOME_HASH], ROOTS[2], ROOTS[7])
    assert refused.value.code == "bad_proof_size"


def test_proof_errors_are_node_errors_with_a_code_and_a_hint() -> None:
    with pytest.raises(HanoinetError) as refused:
        verify_inclusion(LEAVES[0], 0, 8, inclusion_proof_from_leaves(0, LEAVES), SOME_HASH)
    error = refused.value
    assert isinstance(error, RootMismatch)
    assert error.code == "root_mismatch"
    assert error.http_status == 422
    assert error.expected == SOME_HASH
    assert error.calculated == ROOTS[7]
    assert SOME_HASH.hex() in error.message
    assert error.hint


# --- the compact range ---------------------------------------------------------------------------------------


def test_compact_range_holds_one_hash_per_set_bit_and_resumes() -> None:
    builder = CompactRange()
    builder.extend(SMALL_LEAVES[:13])
    assert builder.size == 13
    assert builder.hashes == (
        reference_root(SMALL_LEAVES[:8]), reference_root(SMALL_LEAVES[8:12]), SMALL_LEAVES[12],
    )
    resumed = CompactRange(size=builder.size, hashes=builder.hashes)
    resumed.extend(SMALL_LEAVES[13:])
    assert resumed.size == SMALL
    assert resumed.root() == SMALL_ROOTS[SMALL]
    assert CompactRange().root() == EMPTY_ROOT
    assert CompactRange().hashes == ()


def test_compact_range_refuses_a_state_that_does_not_match_its_size() -> None:
    with pytest.raises(ProofError) as refused:
        CompactRange(size=13, hashes=[SOME_HASH, SOME_HASH])
    assert refused.value.code == "bad_compact_range"
    with pytest.raises(ProofError):
        CompactRange(size=0, hashes=[SOME_HASH])


def test_compact_range_reports_exactly_the_perfect_subtrees_it_completes() -> None:
    seen: dict[tuple[int, int], bytes] = {}

    def visit(level: int, index: int, value: bytes) -> None:
        assert (level, index) not in seen
        seen[(level, index)] = value

    builder = CompactRange()
    builder.extend(SMALL_LEAVES[:45], visit)
    expected = {
        (level, index): reference_root(SMALL_LEAVES[index << level : (index + 1) << level])
        for level in range(6)
        for index in range(45 >> level)
    }
    assert seen == expected
    # Those nodes are all a prover needs.
    assert inclusion_proof(17, 45, lambda level, index: seen[(level, index)]) == reference.path(
        17, SMALL_ENTRIES[:45]
    )
    assert consistency_proof(21, 45, lambda level, index: seen[(level, index)]) == reference.proof(
        21, SMALL_ENTRIES[:45]
    )


# --- purity --------------------------------------------------------------------------------------------------


def test_the_merkle_core_imports_nothing_but_hashlib_and_the_error_family() -> None:
    # tests/test_architecture.py covers the older core modules; this keeps the ledger core pure as it grows.
    source = Path(__file__).parents[2] / "src" / "hanoinet" / "ledger" / "merkle.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported <= {"__future__", "hashlib", "collections.abc", "hanoinet.errors"}
