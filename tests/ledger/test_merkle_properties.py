"""Random trees of up to a few thousand leaves: prove, verify, mutate, and build incrementally.

One tree of ``N`` leaves is built once; every perfect subtree of a prefix is also a perfect subtree of the
whole tree, so its nodes answer ``get_node`` for every size up to ``N``, as a storage layer would.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hanoinet.ledger import (
    CompactRange,
    ProofError,
    consistency_proof,
    consistency_proof_from_leaves,
    inclusion_proof,
    inclusion_proof_from_leaves,
    root,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger import reference

N = 3000
LEAVES = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(N)]
NODES: dict[tuple[int, int], bytes] = {}
PREFIX_ROOTS: list[bytes] = []


def _build() -> None:
    builder = CompactRange()
    PREFIX_ROOTS.append(builder.root())
    for leaf in LEAVES:
        builder.append(leaf, lambda level, index, value: NODES.__setitem__((level, index), value))
        PREFIX_ROOTS.append(builder.root())


_build()


def get_node(level: int, index: int) -> bytes:
    return NODES[(level, index)]


def flipped(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def inclusion_accepts(leaf: bytes, index: int, size: int, proof: list[bytes], root_: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root_)
    except ProofError:
        return False
    return True


def consistency_accepts(old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes) -> bool:
    try:
        verify_consistency(old, new, proof, old_root, new_root)
    except ProofError:
        return False
    return True


sizes = st.integers(min_value=1, max_value=N)
bits = st.integers(min_value=0, max_value=255)
hashes = st.binary(min_size=32, max_size=32)


@st.composite
def leaf_positions(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def size_pairs(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(min_value=1, max_value=new)), new


# --- inclusion -----------------------------------------------------------------------------------------------


@given(leaf_positions())
def test_inclusion_proofs_verify(position: tuple[int, int]) -> None:
    index, size = position
    proof = inclusion_proof(index, size, get_node)
    verify_inclusion(LEAVES[index], index, size, proof, PREFIX_ROOTS[size])
    assert len(proof) == len(reference.path_sides(index, size))


@settings(max_examples=25)
@given(leaf_positions())
def test_inclusion_proofs_from_leaves_equal_those_from_nodes(position: tuple[int, int]) -> None:
    index, size = position
    assert inclusion_proof_from_leaves(index, LEAVES[:size]) == inclusion_proof(index, size, get_node)


@settings(max_examples=400)
@given(leaf_positions(), st.data())
def test_any_mutation_of_an_inclusion_claim_fails(position: tuple[int, int], data: st.DataObject) -> None:
    index, size = position
    leaf, root_ = LEAVES[index], PREFIX_ROOTS[size]
    proof = inclusion_proof(index, size, get_node)
    kind = data.draw(st.sampled_from(["flip proof", "flip leaf", "flip root", "drop", "add", "swap", "index",
                                      "size"]))
    if kind == "flip proof":
        assume(proof)
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = flipped(proof[i], data.draw(bits))
    elif kind == "flip leaf":
        leaf = flipped(leaf, data.draw(bits))
    elif kind == "flip root":
        root_ = flipped(root_, data.draw(bits))
    elif kind == "drop":
        assume(proof)
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        proof.insert(data.draw(st.integers(0, len(proof))), data.draw(hashes))
    elif kind == "swap":
        assume(len(proof) >= 2)
        i, j = data.draw(st.lists(st.integers(0, len(proof) - 1), min_size=2, max_size=2, unique=True))
        proof[i], proof[j] = proof[j], proof[i]
    elif kind == "index":
        other = data.draw(st.integers(0, 2 * N).filter(lambda value: value != index))
        assert not inclusion_accepts(leaf, other, size, proof, root_)
        return
    else:
        other = data.draw(st.integers(0, 2 * N).filter(lambda value: value != size))
        # The size is bound by the signed checkpoint, not by the proof: another size whose proof has the same
        # shape makes the verifier compute the same thing (see tests/ledger/reference.py).
        same_shape = index < other and reference.path_sides(index, other) == reference.path_sides(index, size)
        assert inclusion_accepts(leaf, index, other, proof, root_) == same_shape
        return
    assert not inclusion_accepts(leaf, index, size, proof, root_)


# --- consistency ---------------------------------------------------------------------------------------------


@given(size_pairs())
def test_consistency_proofs_verify(pair: tuple[int, int]) -> None:
    old, new = pair
    proof = consistency_proof(old, new, get_node)
    verify_consistency(old, new, proof, PREFIX_ROOTS[old], PREFIX_ROOTS[new])
    seeded, sides = reference.proof_sides(old, new)
    assert len(proof) == (0 if seeded else 1) + len(sides)


@settings(max_examples=25)
@given(size_pairs())
def test_consistency_proofs_from_leaves_equal_those_from_nodes(pair: tuple[int, int]) -> None:
    old, new = pair
    assert consistency_proof_from_leaves(old, LEAVES[:new]) == consistency_proof(old, new, get_node)


@settings(max_examples=400)
@given(size_pairs(), st.data())
def test_any_mutation_of_a_consistency_claim_fails(pair: tuple[int, int], data: st.DataObject) -> None:
    old, new = pair
    assume(old < new)
    old_root, new_root = PREFIX_ROOTS[old], PREFIX_ROOTS[new]
    proof = consistency_proof(old, new, get_node)
    kind = data.draw(st.sampled_from(["flip proof", "flip old root", "flip new root", "drop", "add", "swap",
                                      "old size", "new size", "both sizes"]))
    if kind == "flip proof":
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = flipped(proof[i], data.draw(bits))
    elif kind == "flip old root":
        old_root = flipped(old_root, data.draw(bits))
    elif kind == "flip new root":
        new_root = flipped(new_root, data.draw(bits))
    elif kind == "drop":
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        proof.insert(data.draw(st.integers(0, len(proof))), data.draw(hashes))
    elif kind == "swap":
        assume(len(proof) >= 2)
        i, j = data.draw(st.lists(st.integers(0, len(proof) - 1), min_size=2, max_size=2, unique=True))
        proof[i], proof[j] = proof[j], proof[i]
    else:
        other_old = old if kind == "new size" else data.draw(st.integers(0, 2 * N))
        other_new = new if kind == "old size" else data.draw(st.integers(0, 2 * N))
        assume((other_old, other_new) != (old, new))
        same_shape = 0 < other_old <= other_new and reference.proof_sides(other_old, other_new) == (
            reference.proof_sides(old, new)
        )
        assert consistency_accepts(other_old, other_new, proof, old_root, new_root) == same_shape
        return
    assert not consistency_accepts(old, new, proof, old_root, new_root)


def test_consistency_holds_for_every_pair_of_small_sizes() -> None:
    for new in range(1, 161):
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, get_node)
            verify_consistency(old, new, proof, PREFIX_ROOTS[old], PREFIX_ROOTS[new])


@settings(max_examples=20)
@given(st.integers(min_value=1, max_value=N - 40))
def test_consistency_holds_for_every_pair_in_a_window(start: int) -> None:
    for new in range(start, start + 40):
        for old in range(start, new + 1):
            proof = consistency_proof(old, new, get_node)
            verify_consistency(old, new, proof, PREFIX_ROOTS[old], PREFIX_ROOTS[new])


# --- building ------------------------------------------------------------------------------------------------


def test_the_incremental_root_equals_the_batch_root_for_every_prefix() -> None:
    for size in range(0, 600):
        assert root(LEAVES[:size]) == PREFIX_ROOTS[size], size


@settings(max_examples=40)
@given(st.integers(min_value=0, max_value=N))
def test_batch_root_and_stored_nodes_agree_with_the_builder(size: int) -> None:
    assert root(LEAVES[:size]) == PREFIX_ROOTS[size]
    assert root_from_nodes(size, get_node) == PREFIX_ROOTS[size]


@settings(max_examples=40)
@given(st.integers(min_value=0, max_value=N), st.integers(min_value=0, max_value=N))
def test_a_builder_resumed_from_its_saved_edge_continues_the_same_tree(split: int, end: int) -> None:
    split, end = min(split, end), max(split, end)
    first = CompactRange()
    first.extend(LEAVES[:split])
    resumed = CompactRange(size=first.size, hashes=first.hashes)
    resumed.extend(LEAVES[split:end])
    assert resumed.size == end
    assert resumed.root() == PREFIX_ROOTS[end]
    assert len(resumed.hashes) == end.bit_count()


@pytest.mark.parametrize("size", [1, 2, 3, 1023, 1024, 1025, N])
def test_the_shared_tree_is_the_rfc_tree(size: int) -> None:
    # Guards the fixture itself: the builder's prefix roots are the RFC roots of the leaf hashes.
    assert PREFIX_ROOTS[size] == root(LEAVES[:size])
