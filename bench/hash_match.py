"""Exact PDQ matching within Hamming distance 31: hanoinet's multi-index against FAISS's binary indexes.

Bank: ``--size`` uniform random 256-bit codes. Queries: ``--items`` uploads of 8 hashes each (as the 8 dihedral
PDQ hashes of an image); every second query is a bank code with 1 to 31 bits flipped (uniformly), the others
are random codes that match nothing. Engines, each measured alone in its own child process, one after another:

- ``hanoinet``: ``hanoinet.hashbank.index.HashIndex`` (add, then merge into the sealed segment);
- ``faiss_flat``: ``IndexBinaryFlat``, ``range_search`` with radius 32 (FAISS keeps distances < radius), exact;
- ``faiss_multihash_nflip1``: ``IndexBinaryMultiHash(256, 16, 16)`` with ``nflip=1``: exact up to 31;
- ``faiss_multihash_nflip0``: the same with ``nflip=0``, the setting of Meta's Hasher-Matcher-Actioner,
  which finds only codes that agree exactly on one of the 16 substrings.

Per engine: build seconds; memory per hash (growth of the process's resident memory over the build, and for
hanoinet also the exact bytes of its arrays); save and reload seconds; lookups/s one upload (8 queries) per
call and in batches of 1,024 queries (each mode stops after ``--seconds``); recall and exactness on the first
``--truth`` queries against a NumPy brute force computed here. FAISS runs with
``faiss.omp_set_num_threads(--threads)`` and hanoinet with as many Python threads (default 1 for both).

Targets (issue, at 10 million hashes on 2 cores): 100 % recall; more lookups/s than FAISS multi-hash with
``nflip=0`` while exact; less memory per hash than FAISS multi-hash; stretch 4,000 exact lookups/s.

Figures on the project's 2-core machine (2026-11-24; shared, so lookups/s vary by up to 20 % between runs),
one thread: lookups/s in batches of 1,024 queries, and in brackets one upload (8 queries) per call:

    size                     hanoinet           FAISS flat      multi-hash nflip=1  multi-hash nflip=0
    250,000                  26,500 (16,800)    4,340 (4,290)   2,680 (2,660)       68,300 (57,500)
    500,000                  22,700 (18,700)    2,110 (2,000)   1,130 (1,240)       45,300 (32,800)
    1,000,000                16,300 (14,100)      935 (926)       573 (556)         17,000 (13,700)
    recall                   100 %              100 %           100 %               97.5 %
    bytes/hash at 1 M        138 (202 resident) 32              348                 348
    build, reload at 1 M     2.7 s, 0.33 s      0.02 s, 0.02 s  4.3 s, 0.54 s       3.8 s, 0.56 s

Multi-hash with ``nflip=0`` verifies about 16 n / 65,536 candidates per query, one ``unordered_set`` insertion
and one random code read each, so its cost grows linearly with the bank: 15 us per query at 250,000, 59 us at
1 million, hence 600-700 us (1,400-1,700 lookups/s) at 10 million. hanoinet's cost grows with its plan's
random reads: 4,200 per query at 1 million, 8,600 at 10 million. Its 10-million layout (11 substrings, slot
arrays beyond every cache) runs at 15,300 lookups/s on 1 million codes; the 2,600 more candidates per query
of 10 million codes, at 35-60 ns each from main memory, bring that to 4,500-6,500 (a projection: run this
benchmark with ``--size 10000000`` to measure it). hanoinet's resident figure includes what the allocator keeps
from the build; the arrays are what a reloaded index holds.

Usage: .venv/bin/python bench/hash_match.py [--size 1000000] [--items 1000] [--truth 400] [--seconds 3]
                                            [--threads 1] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ENGINES = ("hanoinet", "faiss_flat", "faiss_multihash_nflip1", "faiss_multihash_nflip0")
RADIUS = 31
BATCH = 1024
PER_ITEM = 8

Pairs = set[tuple[int, int, int]]


def bank(size: int, seed: int) -> npt.NDArray[np.uint8]:
    """The bank's codes (the same in every process for the same arguments)."""
    return np.random.default_rng(seed).integers(0, 256, size=(size, 32), dtype=np.uint8)


def queries(codes: npt.NDArray[np.uint8], items: int, seed: int) -> npt.NDArray[np.uint8]:
    """Queries of ``items`` uploads: even positions are near-duplicates (1-31 bits flipped), odd ones random."""
    rng = np.random.default_rng(seed + 1)
    count = items * PER_ITEM
    out = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    near = np.arange(0, count, 2)
    bits = np.unpackbits(codes[rng.integers(0, len(codes), size=near.size)], axis=1)
    flips = rng.integers(1, RADIUS + 1, size=near.size)
    ranks = np.argsort(rng.random((near.size, 256)), axis=1)
    bits ^= (ranks < flips[:, None]).astype(np.uint8)
    out[near] = np.packbits(bits, axis=1)
    return out


def brute_force(codes: npt.NDArray[np.uint8], batch: npt.NDArray[np.uint8]) -> Pairs:
    """(query, row, distance) of every pair within the radius, comparing every code with every query."""
    words = codes.view(np.uint64)
    found: Pairs = set()
    for i, query in enumerate(batch.view(np.uint64)):
        bits = np.bitwise_count(words ^ query).astype(np.uint16)
        distance = bits[:, 0] + bits[:, 1] + bits[:, 2] + bits[:, 3]
        found.update((i, int(row), int(distance[row])) for row in np.flatnonzero(distance <= RADIUS))
    return found


def rss() -> int:
    """Resident memory of this process in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rate(search: Callable[[npt.NDArray[np.uint8]], Any], batch: npt.NDArray[np.uint8], step: int,
         seconds: float, workers: int) -> dict[str, float]:
    """Queries per second calling ``search`` with ``step`` queries at a time from ``workers`` Python threads,
    until done or ``seconds`` pass. One worker runs in the calling thread, where FAISS's OpenMP thread count
    was set (a new thread would start with OpenMP's default, all cores)."""
    chunks = [batch[i:i + step] for i in range(0, len(batch), step)]
    done = 0
    began = time.perf_counter()

    def run(share: list[npt.NDArray[np.uint8]]) -> int:
        count = 0
        for chunk in share:
            search(chunk)
            count += len(chunk)
            if time.perf_counter() - began > seconds:
                break
        return count

    if workers == 1:
        done = run(chunks)
    else:
        with ThreadPoolExecutor(workers) as pool:
            done = sum(pool.map(run, [chunks[k::workers] for k in range(workers)]))
    elapsed = time.perf_counter() - began
    return {"queries": done, "seconds": round(elapsed, 3), "lookups_per_s": round(done / elapsed, 1)}


def child(engine: str, args: argparse.Namespace, out: Path) -> None:
    """Measure one engine and write its figures (JSON) and its answers to the truth queries (NumPy)."""
    import faiss  # imported here: the parent process never loads it

    faiss.omp_set_num_threads(args.threads)
    codes = bank(args.size, args.seed)
    batch = queries(codes, args.items, args.seed)
    figures: dict[str, Any] = {}
    before = rss()
    began = time.perf_counter()
    search: Callable[[npt.NDArray[np.uint8]], Any]
    if engine == "hanoinet":
        from hanoinet.hashbank.index import HashIndex

        index = HashIndex()
        index.add(np.arange(args.size, dtype=np.uint64), codes)
        index.merge()
        figures["build_s"] = round(time.perf_counter() - began, 3)
        figures["memory_bytes_per_hash_rss"] = round((rss() - before) / args.size, 1)
        stats = index.stats()
        figures["memory_bytes_per_hash_arrays"] = round(stats.bytes_per_entry, 1)
        lengths = stats.substring_lengths
        figures["substrings"] = " + ".join(f"{lengths.count(b)} x {b} bits" for b in sorted(set(lengths), reverse=True))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bank.hnidx"
            began = time.perf_counter()
            index.save(path)
            figures["save_s"] = round(time.perf_counter() - began, 3)
            figures["file_bytes"] = path.stat().st_size
            del index
            began = time.perf_counter()
            index = HashIndex.load(path)
            figures["reload_s"] = round(time.perf_counter() - began, 3)
        search = index.search

        def answers(chunk: npt.NDArray[np.uint8]) -> list[tuple[int, int, int]]:
            found = index.search(chunk)
            return list(zip(found.query.tolist(), found.ids.tolist(), found.distance.tolist(), strict=True))
    else:
        faiss_index: Any
        if engine == "faiss_flat":
            faiss_index = faiss.IndexBinaryFlat(256)
        else:
            faiss_index = faiss.IndexBinaryMultiHash(256, 16, 16)
            faiss_index.nflip = 1 if engine.endswith("nflip1") else 0
        faiss_index.add(codes)
        figures["build_s"] = round(time.perf_counter() - began, 3)
        figures["memory_bytes_per_hash_rss"] = round((rss() - before) / args.size, 1)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bank.faiss"
            began = time.perf_counter()
            faiss.write_index_binary(faiss_index, str(path))
            figures["save_s"] = round(time.perf_counter() - began, 3)
            figures["file_bytes"] = path.stat().st_size
            began = time.perf_counter()
            faiss.read_index_binary(str(path))
            figures["reload_s"] = round(time.perf_counter() - began, 3)

        def search(chunk: npt.NDArray[np.uint8]) -> Any:
            return faiss_index.range_search(chunk, RADIUS + 1)

        def answers(chunk: npt.NDArray[np.uint8]) -> list[tuple[int, int, int]]:
            limits, distances, labels = faiss_index.range_search(chunk, RADIUS + 1)
            query = np.repeat(np.arange(len(chunk)), np.diff(limits).astype(np.int64))
            return list(zip(query.tolist(), labels.tolist(), distances.tolist(), strict=True))

    search(batch[:PER_ITEM])
    # hanoinet uses --threads Python threads; FAISS one calling thread with --threads OpenMP threads.
    workers = args.threads if engine == "hanoinet" else 1
    figures["per_upload"] = rate(search, batch, PER_ITEM, args.seconds, workers)
    figures["batched"] = rate(search, batch, BATCH, args.seconds, workers)
    truth_answers = answers(batch[:args.truth])
    out.write_text(json.dumps({"figures": figures, "answers": truth_answers}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--truth", type=int, default=400, help="queries checked against brute force")
    parser.add_argument("--seconds", type=float, default=3.0, help="time limit of each lookup measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child(args.engine, args, args.out)
        return
    codes = bank(args.size, args.seed)
    truth_queries = queries(codes, args.items, args.seed)[:args.truth]
    began = time.perf_counter()
    truth = brute_force(codes, truth_queries)
    truth_seconds = time.perf_counter() - began
    report: dict[str, Any] = {
        "size": args.size, "queries": args.items * PER_ITEM, "radius": RADIUS, "threads": args.threads,
        "truth": {"queries": len(truth_queries), "pairs": len(truth), "brute_force_s": round(truth_seconds, 2)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "engines": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines.split(","):
            out = Path(folder) / f"{engine}.json"
            command = [sys.executable, __file__, "--engine", engine, "--out", str(out), "--size", str(args.size),
                       "--items", str(args.items), "--truth", str(args.truth), "--seconds", str(args.seconds),
                       "--threads", str(args.threads), "--seed", str(args.seed)]
            subprocess.run(command, check=True)
            result = json.loads(out.read_text())
            found = {tuple(pair) for pair in result["answers"]}
            figures = result["figures"]
            figures["recall"] = round(len(found & truth) / len(truth), 4) if truth else 1.0
            figures["exact"] = found == truth
            figures["false_matches"] = len(found - truth)
            report["engines"][engine] = figures
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
