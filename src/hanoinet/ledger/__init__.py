"""The custody ledger: an append-only Merkle log of custody events (RFC 9162 hashing) and its proofs.

``merkle`` is the pure core: hashing, roots, the compact range a sequencer extends, inclusion and consistency
proofs and their verification. It does no I/O; storage answers it through a ``get_node`` callback.
"""

from hanoinet.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    CompactRange,
    NodeSource,
    NodeVisitor,
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
