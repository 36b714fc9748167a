"""Custody-ledger Merkle proofs at 1 and 10 million leaves: build rate, proof and verification latency.

Design target (DESIGN section 6): inclusion and consistency proofs < 1 ms at 10 million leaves; a sequencer
appending >= 20,000 leaves a second.

What is measured, per tree size ``N``:

- ``build``: the sequencer path. Leaf hashes are ``leaf_hash(i as 8 bytes)``, generated in chunks of 2**20
  (timed apart, as ``leaf_generation``). They are appended one by one to a ``CompactRange`` whose visitor
  stores every completed perfect subtree in one flat ``bytearray`` per level (32 bytes a node, index order),
  which is what a storage layer would persist. All nodes are kept: 2 * N * 32 bytes, 640 MB at 10 million,
  so no level is recomputed on demand. The root of the builder is checked against ``root_from_nodes``.
- ``inclusion`` and ``consistency``: ``--samples`` random leaves (and random size pairs ``old < new <= N``),
  each proof built through the ``get_node`` callback over those arrays, then verified; the per-operation
  times give median and p99 in microseconds. Roots for the verifications are computed outside the timing.
- ``root_from_nodes``: the root of a random past size from stored nodes (what a checkpoint of that size
  needs).
- ``floor``: the baseline measured in the same run: one bare ``hashlib.sha256`` of 65 bytes, times the
  number of hashes a verification does; verification cannot be cheaper than that in Python.

Usage: .venv/bin/python bench/ledger_proofs.py [--sizes 1M,10M] [--samples 2000] [--seed 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from hanoinet.ledger import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)

TARGET_PROOF_US = 1000.0
TARGET_APPENDS_PER_S = 20_000
CHUNK = 1 << 20


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _summary(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_us": round(statistics.median(ordered) / 1000, 2),
        "p99_us": round(p99 / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 2),
    }


def build(size: int) -> tuple[list[bytes], bytes, float, dict[str, object]]:
    """Append ``size`` leaves through a CompactRange storing every perfect node: levels, root, appends/s."""
    levels: list[bytearray] = [bytearray()]

    def store(level: int, index: int, value: bytes) -> None:
        # Nodes of a level complete in index order, so storing is an append.
        if level == len(levels):
            levels.append(bytearray())
        levels[level] += value

    builder = CompactRange()
    generate_s = append_s = 0.0
    for start in range(0, size, CHUNK):
        t0 = time.perf_counter()
        chunk = [leaf_hash(i.to_bytes(8, "big")) for i in range(start, min(size, start + CHUNK))]
        t1 = time.perf_counter()
        builder.extend(chunk, store)
        append_s += time.perf_counter() - t1
        generate_s += t1 - t0
    t0 = time.perf_counter()
    tree_root = builder.root()
    root_s = time.perf_counter() - t0
    # Freeze each level as bytes (slicing bytes gives bytes, which get_node must return), one at a time so
    # that memory holds at most one extra copy of one level.
    frozen: list[bytes] = []
    for i in range(len(levels)):
        frozen.append(bytes(levels[i]))
        levels[i] = bytearray()
    stored = sum(len(level) for level in frozen)
    return frozen, tree_root, size / append_s, {
        "leaf_generation": {"seconds": round(generate_s, 2), "leaves_per_s": round(size / generate_s)},
        "appends": {
            "seconds": round(append_s, 2),
            "leaves_per_s": round(size / append_s),
            "note": "CompactRange.append with a visitor storing every completed node; leaf hashes given",
        },
        "root_from_compact_range_us": round(root_s * 1e6, 1),
        "stored_node_bytes": stored,
        "levels": len(frozen),
    }


def measure(size: int, samples: int, rng: random.Random) -> dict[str, object]:
    """Build a tree of ``size`` leaves and time proofs against it."""
    levels, tree_root, appends_per_s, build_figures = build(size)

    def get_node(level: int, index: int) -> bytes:
        offset = index * 32
        return levels[level][offset : offset + 32]

    assert root_from_nodes(size, get_node) == tree_root, "stored nodes disagree with the compact range"

    clock = time.perf_counter_ns
    # Inclusion against the full tree.
    prove_ns: list[int] = []
    verify_ns: list[int] = []
    lengths: list[int] = []
    for _ in range(samples):
        index = rng.randrange(size)
        t0 = clock()
        proof = inclusion_proof(index, size, get_node)
        t1 = clock()
        verify_inclusion(get_node(0, index), index, size, proof, tree_root)
        t2 = clock()
        prove_ns.append(t1 - t0)
        verify_ns.append(t2 - t1)
        lengths.append(len(proof))

    # Consistency between random sizes old < new <= size; the roots come from stored nodes, timed apart.
    c_prove_ns: list[int] = []
    c_verify_ns: list[int] = []
    c_lengths: list[int] = []
    root_ns: list[int] = []
    for _ in range(samples):
        new = rng.randint(2, size)
        old = rng.randint(1, new - 1)
        t0 = clock()
        old_root = root_from_nodes(old, get_node)
        t1 = clock()
        new_root = root_from_nodes(new, get_node)
        t2 = clock()
        proof = consistency_proof(old, new, get_node)
        t3 = clock()
        verify_consistency(old, new, proof, old_root, new_root)
        t4 = clock()
        root_ns.append(t1 - t0)
        c_prove_ns.append(t3 - t2)
        c_verify_ns.append(t4 - t3)
        c_lengths.append(len(proof))

    # The floor: one bare SHA-256 over 65 bytes (a node hash), measured now.
    block = b"\x01" + bytes(64)
    reps = 200_000
    t0 = time.perf_counter_ns()
    for _ in range(reps):
        hashlib.sha256(block).digest()
    hash_ns = (time.perf_counter_ns() - t0) / reps

    timings = {name: _summary(values) for name, values in (
        ("inclusion_prove", prove_ns), ("inclusion_verify", verify_ns),
        ("consistency_prove", c_prove_ns), ("consistency_verify", c_verify_ns), ("root_from_nodes", root_ns),
    )}
    worst_p99 = max(timings[name]["p99_us"] for name in timings if name != "root_from_nodes")
    return {
        "leaves": size,
        "build": build_figures,
        "inclusion": {"prove": timings["inclusion_prove"], "verify": timings["inclusion_verify"],
                      "proof_hashes_median": statistics.median(lengths)},
        "consistency": {"prove": timings["consistency_prove"], "verify": timings["consistency_verify"],
                        "proof_hashes_median": statistics.median(c_lengths)},
        "root_from_nodes": timings["root_from_nodes"],
        "floor": {
            "sha256_node_hash_us": round(hash_ns / 1000, 3),
            "inclusion_verify_us": round(hash_ns * statistics.median(lengths) / 1000, 2),
            # Every element is hashed into the new root at least once; the old root reuses some of them.
            "consistency_verify_us": round(hash_ns * statistics.median(c_lengths) / 1000, 2),
        },
        "meets_proof_target": worst_p99 < TARGET_PROOF_US,
        "meets_append_target": appends_per_s >= TARGET_APPENDS_PER_S,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _sizes(text: str) -> list[int]:
    sizes = []
    for raw in text.split(","):
        part = raw.strip().lower().replace("_", "")
        factor = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        try:
            value = int(part[:-1] if factor != 1 else part) * factor
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not a size such as 250k, 1M or 10000000") from None
        if value < 2:
            raise argparse.ArgumentTypeError("a tree needs at least 2 leaves for consistency proofs")
        sizes.append(value)
    return sizes


def main() -> None:
    """Measure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=_sizes, default=[1_000_000, 10_000_000],
                        help="comma-separated tree sizes, e.g. 1M,10M or 250k")
    parser.add_argument("--samples", type=int, default=2000, help="proofs of each kind per size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the JSON document to this file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    results = [measure(size, args.samples, rng) for size in args.sizes]
    document = {
        "benchmark": "ledger_proofs",
        "targets": {"proof_p99_us": TARGET_PROOF_US, "appends_per_s": TARGET_APPENDS_PER_S},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "samples": args.samples,
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
        "note": "proofs built through get_node over in-memory level arrays (all nodes kept); times are per "
                "operation, single thread; floor = bare SHA-256 calls a verification cannot avoid",
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
