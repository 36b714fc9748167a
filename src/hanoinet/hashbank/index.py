"""Exact matching of 256-bit PDQ hashes within a Hamming radius: a multi-index hash over a sealed segment, a
brute-forced delta segment for additions, tombstones for withdrawals, and a checksummed file format.

A lookup answers every bank entry whose Hamming distance to a query is at most ``radius`` (31, PDQ's match
threshold, by default) with that distance: the same answer as comparing the query with every entry. Platforms
send the eight dihedral hashes of an upload; :meth:`HashIndex.search` takes them (and any number of uploads) as
one batch.

Method. Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with Multi-Index
Hashing", CVPR 2012; "Fast Exact Search in Hamming Space with Multi-Index Hashing", TPAMI 36(6), 2014) cuts
each code into ``m`` disjoint substrings and keeps one table per substring. With the general pigeonhole
principle (Qin et al., "GPH: Similarity Search in Hamming Space", ICDE 2018): if substring ``i`` is probed with
threshold ``t_i`` and ``sum(t_i + 1) >= radius + 1``, every code within ``radius`` of the query is within
``t_i`` of it on some substring ``i``, so probing, in every table, each value within ``t_i`` of the query's
substring finds it. Candidates are then verified on all 256 bits, so the answer is exact.

Parameters. The substring length that balances probes against candidates is about log2(n) (Norouzi et al.,
section 4.2). The index takes the number of substrings ``m`` (lengths as even as possible) that minimises the
expected random memory accesses per query, probes + 2 x candidates (a candidate costs a table read and a code
read), among those whose slot arrays take at most 64 bytes per entry; each substring gets the threshold chosen
greedily by the same cost. For radius 31:

==========  ==  ===================  ============  ================  ===============
entries     m   lengths (bits)       probes/query  candidates/query  bytes per entry
==========  ==  ===================  ============  ================  ===============
1,000,000   13  9 x 20, 4 x 19       1,409         1,420             138
10,000,000  11  3 x 24, 8 x 23       2,866         2,878             131
==========  ==  ===================  ============  ================  ===============

Alternatives at 10 million: 16 x 16 bits with threshold 1 (FAISS ``IndexBinaryMultiHash(256, 16, 16)``,
``nflip=1``) verifies 41,500 candidates per query; 8 x 32 bits with threshold 3 needs 43,912 probes; m = 12
and 13 need 16,600 and 29,800 accesses against 8,600 for m = 11. Measured at 1 million entries (one thread,
batches of 4,000 queries, half near-duplicates; the machine is shared, so figures vary by about 20 % from run
to run): m = 11: 15,300 lookups/s but 554 bytes per entry; m = 12: 14,500 (222 bytes); m = 13: 14,700 (138
bytes); m = 14: 13,500 (115 bytes); m = 16: 9,600 (108 bytes). bench/hash_match.py compares with FAISS: at
1 million entries this index, exact, matches the rate of FAISS multi-hash with ``nflip=0`` (which finds 97.5 %
of the matches) and runs 28 times faster than its exact ``nflip=1``; its advantage grows with the bank, since
``nflip=0`` verifies 16 n / 65,536 candidates per query (its docstring has the figures and a projection to 10
million entries).

Layout. Each table is CSR, not a hash map. All tables share one ``slots`` array (uint32, one slot per possible
substring value plus a final one; table ``i`` starts at slot ``base_i = sum(2**b_j, j < i)``, lengths in
descending order so that adding ``base_i`` to a value never carries into the bits a probe flips) and one
``order`` array (uint32 row numbers, table after table, sorted by substring value within a table). A slot packs
the start of its range in ``order`` with the range's length in its low ``c`` bits (``c = 32 -
bit_length(m n)``; a length of ``2**c - 1`` or more is read from the next slot's start), so a probe is one
random read, not two: 40 % more lookups/s when the slots do not fit in the caches. Queries are processed a
few dozen at a time, so the intermediate arrays stay in the L2 cache; each step (probe values, slot reads, the
expansion of row ranges, gathering 32-byte codes, XOR, ``np.bitwise_count``) is one NumPy call over the whole
step; a code found through several tables is deduplicated only among the few that match. Gathering codes at
random costs about twice as much on 4 KiB pages as on the transparent huge pages NumPy requests for large
arrays, so a saved index is read into memory rather than memory-mapped. A query whose candidates would exceed
``n / 8`` (degenerate banks with many equal substrings), or a radius whose plan costs more than ``n / 8``
accesses (both at least 4,096), is answered by comparing with every entry, so the work per query stays
bounded. A segment holds at most ``2**31 / m`` entries (about 195 million).

Memory per entry: 32 bytes of code, 8 of id, ``4 m`` of ``order`` and ``4 sum(2**b_i) / n`` (at most 64) of
slots: 138 bytes at 1 million entries, 131 at 10 million. FAISS's multi-hash index keeps its own copy of the
codes and an 8-byte id per table in a ``std::vector`` per bucket of a ``std::unordered_map`` per table: 348
bytes per entry of resident memory at 1 million (bench/hash_match.py).

Segments. The sealed (main) segment is immutable. :meth:`HashIndex.add` appends to the delta segment, which is
compared with every query; :meth:`HashIndex.withdraw` records the row of a withdrawn entry as a tombstone, so it
never matches again. Both are visible to every search that starts after they return. :meth:`HashIndex.merge`
builds a new main segment from the live entries aside, while searches, additions and withdrawals go on, then
swaps it in. Searches take no lock: each reads one immutable snapshot of (main segment, tombstones, delta
length). The delta is compared with every query, column by column: about 6.5 ns per entry and query, so
10,000 entries add 65 us per query, about what the main segment costs at 1 million entries. Merge when the
delta holds more than about 10,000 entries (:meth:`HashIndex.stats` tells how many), e.g. from a background
thread: a merge takes about 3 s of one core per million entries.

Ids are unsigned 64-bit integers, unique among live entries; a withdrawn id may be added again as a new entry.

File format, version 1 (all integers little-endian; written by :meth:`HashIndex.save`, read by
:meth:`HashIndex.load`)::

    offset  size  field
    0       8     magic, the ASCII bytes "HNPDQIDX"
    8       4     u32 format version, 1
    12      4     u32 code size in bytes, 32
    16      8     u64 n: rows of the main segment (including withdrawn ones)
    24      8     u64 w: tombstones (withdrawn rows of the main segment)
    32      8     u64 d: entries of the delta segment (live ones only)
    40      4     u32 m: substrings of the main segment's tables (0 when n = 0)
    44      4     u32 zero
    48      32    u8 substring lengths b_0 >= b_1 >= ... >= b_(m-1), each 1..32, sum 256; zero beyond m
    80      48    zero
    128           sections, each starting at the next multiple of 64 from the end of the previous one (the
                  gap is zero bytes):
                  1. main ids        n x u64, strictly ascending
                  2. main codes      n x 32 bytes, row r is the code of id r
                  3. slots           (S + 1) x u32, S = sum(2**b_i): slot k < S is start_k << c |
                                     min(start_(k+1) - start_k, 2**c - 1), where start_k is the position in
                                     ``order`` of the first row of table i whose substring value is k - base_i
                                     (start_(base_i) = i n); slot S is (m n) << c
                  4. order           m n x u32, table i at [i n, (i + 1) n): rows sorted by substring i
                  5. tombstones      w x u32 rows of the main segment, strictly ascending
                  6. delta ids       d x u64
                  7. delta codes     d x 32 bytes
    E             32    SHA-256 (FIPS 180-4) of bytes 0..E-1, where E is the end of section 7 rounded up to 64

Substring ``i`` is bits ``[o_i, o_i + b_i)`` of the code, ``o_i = sum(b_j, j < i)``, bit 0 being the most
significant bit of byte 0 (PDQ's hexadecimal order), read as an unsigned integer, first bit most significant.
The file's size must be exactly ``E + 32``. :meth:`HashIndex.save` writes a temporary file in the same folder,
fsyncs it, renames it over the target and fsyncs the folder, so an interruption at any point leaves the
previous file intact (a temporary ``.<name>.<random>.tmp`` may remain after a hard kill; it is never read).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import os
import secrets
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from hanoinet.durable import fsync_folder
from hanoinet.errors import ConfigurationError, Conflict, NotFound, ValidationError

CODE_BYTES: Final = 32
CODE_BITS: Final = 256
#: PDQ's match threshold (inclusive), as ThreatExchange's ``PdqSignal`` uses it.
DEFAULT_RADIUS: Final = 31
MAGIC: Final = b"HNPDQIDX"
FORMAT_VERSION: Final = 1

_HEADER = struct.Struct("<8sIIQQQII32s48x")
_ALIGN = 64
_DIGEST_BYTES = 32
_MIN_PARTS = 8
_MAX_PARTS = 32
#: The slot array may take this many bytes per entry (1 MiB at least, for small banks).
_SLOT_BYTES_PER_ENTRY = 64
_MIN_SLOT_BYTES = 1 << 20
#: Probes handled per step: the step's arrays (a few bytes per probe and per candidate) stay in the L2 cache.
_PROBES_PER_STEP = 1 << 17
#: Candidates verified per step; a step with more is split in two.
_CANDIDATES_PER_STEP = 1 << 20
#: Code pairs compared per step of a brute-force comparison (its arrays stay in the L2 cache).
_PAIRS_PER_STEP = 1 << 17
#: Below this many accesses per query, the multi-index is used even where comparing all codes costs as little.
_SMALL_COST = 4096
#: Left shifts that place 5 consecutive bytes into the low 40 bits of a uint64, first byte highest.
_WINDOW_SHIFTS = np.array([32, 24, 16, 8, 0], dtype=np.uint64)

_Codes: TypeAlias = npt.NDArray[np.uint8]
_U32: TypeAlias = npt.NDArray[np.uint32]
_U64: TypeAlias = npt.NDArray[np.uint64]
_Index: TypeAlias = npt.NDArray[np.intp]
_Found: TypeAlias = tuple[_Index, _U32, _U32]


class Matches(NamedTuple):
    """The answer to a batch of queries, one element per (query, entry) pair within the radius.

    Three arrays of equal length, sorted by query, then distance, then id: the position of the query in the
    batch, the entry's id and the Hamming distance. Flat arrays rather than a list per query: building
    Python objects would cost more than the lookup itself for large batches.
    """

    query: _Index
    ids: _U64
    distance: npt.NDArray[np.uint16]


@dataclass(frozen=True, slots=True)
class IndexStats:
    """Counts and memory of a :class:`HashIndex` (``memory_bytes`` counts every array the index holds)."""

    entries: int
    main_rows: int
    main_withdrawn: int
    delta_entries: int
    delta_withdrawn: int
    substring_lengths: tuple[int, ...]
    memory_bytes: int

    @property
    def bytes_per_entry(self) -> float:
        """Memory divided by live entries (0 for an empty index)."""
        return self.memory_bytes / self.entries if self.entries else 0.0


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one radius is searched in one segment: the probe masks per substring, or brute force."""

    columns: _Index
    masks: _U32
    brute: bool


class _Segment:
    """The sealed segment: codes sorted by id and their multi-index tables. Never modified once built."""

    def __init__(self, ids: _U64, codes: _Codes, lengths: tuple[int, ...], slots: _U32, order: _U32) -> None:
        self.ids = ids
        self.codes = codes
        self.lengths = lengths
        self.slots = slots
        self.order = order
        self.rows = int(ids.shape[0])
        self.count_bits = _count_bits(len(lengths) * self.rows)
        # One 32-byte item per code: np.take gathers whole codes in one pass.
        self._items = codes.reshape(-1).view("V32")
        self._bases = _slot_bases(lengths)
        self._windows = _windows(lengths)
        self._plans: dict[int, _Plan] = {}

    @classmethod
    def build(cls, ids: _U64, codes: _Codes) -> _Segment:
        """Sort ``codes`` by id and build the tables (``ids`` unique)."""
        by_id = np.argsort(ids, kind="stable")
        ids = np.ascontiguousarray(ids[by_id])
        sorted_codes = _aligned_codes(len(by_id))
        np.take(codes, by_id, axis=0, out=sorted_codes)
        codes = sorted_codes
        n = int(ids.shape[0])
        lengths = _choose_lengths(n) if n else ()
        bases = _slot_bases(lengths)
        slots = sum(1 << b for b in lengths)
        if len(lengths) * n >= 1 << 31:
            raise ConfigurationError(f"{n} entries are too many for one segment of {len(lengths)} tables",
                                     hint="split the bank into several indexes", code="hashbank_too_large")
        offsets = np.empty(slots + 1, dtype=np.uint32)
        offsets[slots] = len(lengths) * n
        order = np.empty(len(lengths) * n, dtype=np.uint32)
        windows = _windows(lengths)
        for i, length in enumerate(lengths):
            keys = np.concatenate([_substrings(codes[s:s + (1 << 20)], windows, i)[:, 0]
                                   for s in range(0, n, 1 << 20)])
            order[i * n:(i + 1) * n] = np.argsort(keys)
            counts = np.bincount(keys, minlength=1 << length).astype(np.uint32)
            base = int(bases[i])
            offsets[base] = i * n
            np.cumsum(counts[:-1], out=offsets[base + 1:base + (1 << length)])
            offsets[base + 1:base + (1 << length)] += np.uint32(i * n)
        return cls(ids, codes, lengths, _pack_slots(offsets, _count_bits(len(lengths) * n)), order)

    @property
    def nbytes(self) -> int:
        """Bytes of the segment's arrays."""
        return int(self.ids.nbytes + self.codes.nbytes + self.slots.nbytes + self.order.nbytes)

    def plan(self, radius: int) -> _Plan:
        """The probe plan for ``radius`` (cached; two threads may compute the same plan, harmlessly)."""
        plan = self._plans.get(radius)
        if plan is None:
            plan = _make_plan(self.lengths, self.rows, radius)
            self._plans[radius] = plan
        return plan

    def search(self, queries: _Codes, radius: int) -> _Found:
        """(query, row, distance) of every row within ``radius`` of a query, each pair once, in no order."""
        plan = self.plan(radius)
        if plan.brute:
            return _brute_force(_columns(self.codes), queries, radius)
        step = max(1, _PROBES_PER_STEP // int(plan.masks.shape[0]))
        parts = []
        for start in range(0, len(queries), step):
            query, rows, distance = self._search_step(queries[start:start + step], radius, plan)
            parts.append((query + start, rows, distance))
        query, rows, distance = _concat(parts)
        # A code near the query on several substrings is found once per table: keep one of each pair.
        pair = (query.astype(np.uint64) << np.uint64(32)) | rows.astype(np.uint64)
        _, first = np.unique(pair, return_index=True)
        return query[first], rows[first], distance[first]

    def _search_step(self, queries: _Codes, radius: int, plan: _Plan) -> _Found:
        q = len(queries)
        keys = _substrings(queries, self._windows, None)
        keys += self._bases
        probes = keys[:, plan.columns]
        probes ^= plan.masks
        probes = probes.reshape(-1)
        # One gather per probe: the range's start and (up to 2**count_bits - 1) its length. Every index is in
        # range by construction (and the file checks); mode="clip" skips the error path: ~10 % more lookups/s.
        packed = np.take(self.slots, probes, mode="clip")
        counts = packed & np.uint32((1 << self.count_bits) - 1)
        starts = packed >> np.uint32(self.count_bits)
        long = np.flatnonzero(counts == (1 << self.count_bits) - 1)
        if long.size:
            counts[long] = (np.take(self.slots, probes[long] + 1) >> np.uint32(self.count_bits)) - starts[long]
        per_query = counts.reshape(q, -1).sum(axis=1, dtype=np.int64)
        heavy = per_query > max(_SMALL_COST, self.rows // 8)
        if heavy.any():
            # Degenerate banks (many equal substrings): these queries cost less compared with every code.
            dense, light = np.flatnonzero(heavy), np.flatnonzero(~heavy)
            query, rows, distance = _brute_force(_columns(self.codes), queries[dense], radius)
            parts = [(dense[query], rows, distance)]
            if light.size:
                query, rows, distance = self._search_step(queries[light], radius, plan)
                parts.append((light[query], rows, distance))
            return _concat(parts)
        if q > 1 and int(per_query.sum()) > _CANDIDATES_PER_STEP:
            half = q // 2
            query, rows, distance = self._search_step(queries[half:], radius, plan)
            return _concat([self._search_step(queries[:half], radius, plan), (query + half, rows, distance)])
        return self._verify(queries, radius, starts, counts, per_query)

    def _verify(self, queries: _Codes, radius: int, starts: _U32, counts: _U32,
                per_query: npt.NDArray[np.int64]) -> _Found:
        ends = np.cumsum(counts, dtype=np.int64)
        total = int(ends[-1])
        if total == 0:
            return _empty()
        # Positions of all candidates: each probe's range [start, start + count) laid end to end.
        shift = starts.astype(np.int64) - (ends - counts)
        positions = np.repeat(shift, counts)
        positions += np.arange(total, dtype=np.int64)
        rows = np.take(self.order, positions, mode="clip")
        diff = np.take(self._items, rows, mode="clip").view(np.uint64).reshape(-1, 4)
        diff ^= np.repeat(queries.view(np.uint64), per_query, axis=0)
        # The four per-word counts summed in the top byte of a uint32: it wraps only at 256 (every bit
        # differs), which the exact recount of the few hits removes.
        total_bits = np.bitwise_count(diff).view(np.uint32).reshape(-1)
        total_bits *= np.uint32(0x01010101)
        total_bits >>= np.uint32(24)
        hit = np.flatnonzero(total_bits <= radius)
        distance = np.bitwise_count(diff[hit]).sum(axis=1, dtype=np.uint32)
        exact = distance <= radius
        hit = hit[exact]
        query = np.repeat(np.arange(len(queries), dtype=np.intp), per_query)[hit]
        return query, rows[hit], distance[exact]


@dataclass(frozen=True, slots=True)
class _State:
    """What one search sees: the main segment, its tombstones and the first ``delta_len`` delta entries.

    The delta keeps its codes as four columns of 64-bit words, ``delta_words[k, i]`` being word ``k`` of entry
    ``i``: comparing queries with every entry one column at a time is 5x faster than row by row.
    """

    main: _Segment
    tombstones: _U32
    delta_ids: _U64
    delta_words: _U64
    delta_len: int
    delta_dead: _U32

    def live_delta(self) -> tuple[_U64, _Codes]:
        """Ids and codes of the delta entries not withdrawn."""
        alive = np.ones(self.delta_len, dtype=bool)
        alive[self.delta_dead] = False
        return self.delta_ids[:self.delta_len][alive], _rows(self.delta_words[:, :self.delta_len][:, alive])

    def live_main(self) -> tuple[_U64, _Codes]:
        """Ids and codes of the main segment's rows not withdrawn."""
        alive = np.ones(self.main.rows, dtype=bool)
        alive[self.tombstones] = False
        return self.main.ids[alive], self.main.codes[alive]

    @property
    def entries(self) -> int:
        """Live entries."""
        return self.main.rows - len(self.tombstones) + self.delta_len - len(self.delta_dead)


class HashIndex:
    """An exact Hamming-radius index of 256-bit codes keyed by unsigned 64-bit ids (see the module docstring).

    Safe to use from several threads: searches run concurrently with each other and with :meth:`add`,
    :meth:`withdraw`, :meth:`merge` and :meth:`save`.
    """

    def __init__(self) -> None:
        empty = _Segment.build(np.empty(0, dtype=np.uint64), np.empty((0, CODE_BYTES), dtype=np.uint8))
        self._state = _State(empty, _u32([]), np.empty(0, dtype=np.uint64), np.empty((4, 0), dtype=np.uint64), 0,
                             _u32([]))
        self._lock = threading.Lock()
        self._merge_lock = threading.Lock()
        # Ids withdrawn while a merge builds its segment, applied to that segment when it is swapped in.
        self._withdrawn_during_merge: list[_U64] | None = None

    def __len__(self) -> int:
        return self._state.entries

    def add(self, ids: npt.ArrayLike, codes: npt.ArrayLike) -> None:
        """Add entries: ``ids`` (n,) unsigned or non-negative integers, ``codes`` (n, 32) uint8.

        Raises ValidationError for malformed input and Conflict when an id is already live in the index.
        """
        new_ids = _check_ids(ids)
        new_codes = _check_codes(codes, "codes")
        if new_ids.shape[0] != new_codes.shape[0]:
            raise ValidationError(f"{new_ids.shape[0]} ids but {new_codes.shape[0]} codes",
                                  hint="pass one id per code", code="hashbank_ids")
        if np.unique(new_ids).shape[0] != new_ids.shape[0]:
            raise ValidationError("the same id appears twice in one addition", hint="pass each id once",
                                  code="hashbank_ids")
        with self._lock:
            state = self._state
            main_rows, delta_positions = _locate(state, new_ids)
            if main_rows.size or delta_positions.size:
                taken = np.concatenate([state.main.ids[main_rows], state.delta_ids[delta_positions]])
                raise Conflict(f"{taken.size} of these ids are already in the index, e.g. {int(taken[0])}",
                               hint="withdraw an entry before adding another under its id",
                               code="hashbank_id_exists")
            length = state.delta_len + new_ids.shape[0]
            delta_ids, delta_words = state.delta_ids, state.delta_words
            if length > delta_ids.shape[0]:
                # Searches running now read only the first delta_len entries of the old arrays.
                delta_ids, delta_words = _delta_arrays(max(length, 2 * delta_ids.shape[0]))
                delta_ids[:state.delta_len] = state.delta_ids[:state.delta_len]
                delta_words[:, :state.delta_len] = state.delta_words[:, :state.delta_len]
            delta_ids[state.delta_len:length] = new_ids
            delta_words[:, state.delta_len:length] = new_codes.view(np.uint64).T
            self._state = _State(state.main, state.tombstones, delta_ids, delta_words, length, state.delta_dead)

    def withdraw(self, ids: npt.ArrayLike) -> int:
        """Withdraw the live entries with these ids; they never match again. Returns how many were live."""
        gone = _check_ids(ids)
        with self._lock:
            state = self._state
            main_rows, delta_positions = _locate(state, gone)
            if not main_rows.size and not delta_positions.size:
                return 0
            if self._withdrawn_during_merge is not None:
                self._withdrawn_during_merge.append(gone)
            self._state = _State(state.main, _u32(np.union1d(state.tombstones, main_rows)), state.delta_ids,
                                 state.delta_words, state.delta_len,
                                 _u32(np.union1d(state.delta_dead, delta_positions)))
            return int(main_rows.size + delta_positions.size)

    def search(self, queries: npt.ArrayLike, radius: int = DEFAULT_RADIUS) -> Matches:
        """Every live entry within Hamming distance ``radius`` (inclusive, 0..256) of each query (q, 32) uint8."""
        batch = _check_codes(queries, "queries")
        if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= CODE_BITS:
            raise ValidationError(f"radius {radius!r} is not an integer within 0..{CODE_BITS}",
                                  hint=f"PDQ matches use {DEFAULT_RADIUS}", code="hashbank_radius")
        state = self._state
        queries_found: list[_Index] = [np.empty(0, dtype=np.intp)]
        ids_found: list[_U64] = [np.empty(0, dtype=np.uint64)]
        distances_found: list[_U32] = [_u32([])]
        if state.main.rows and batch.shape[0]:
            query, rows, distance = state.main.search(batch, radius)
            keep = ~np.isin(rows, state.tombstones)
            queries_found.append(query[keep])
            ids_found.append(state.main.ids[rows[keep]])
            distances_found.append(distance[keep])
        if state.delta_len and batch.shape[0]:
            query, positions, distance = _brute_force(list(state.delta_words[:, :state.delta_len]), batch, radius)
            keep = ~np.isin(positions, state.delta_dead)
            queries_found.append(query[keep])
            ids_found.append(state.delta_ids[positions[keep]])
            distances_found.append(distance[keep])
        query, ids, distance = (np.concatenate(queries_found), np.concatenate(ids_found),
                                np.concatenate(distances_found))
        ranked = np.lexsort((ids, distance, query))
        return Matches(query[ranked], ids[ranked], distance[ranked].astype(np.uint16))

    def merge(self) -> None:
        """Fold the delta segment and the tombstones into a new main segment.

        Searches, additions and withdrawals go on while the segment is built; it is swapped in at the end. If
        building fails, nothing changes.
        """
        with self._merge_lock:
            with self._lock:
                base = self._state
                if not base.delta_len and not base.tombstones.size:
                    return
                self._withdrawn_during_merge = []
            try:
                main_ids, main_codes = base.live_main()
                delta_ids, delta_codes = base.live_delta()
                segment = _Segment.build(np.concatenate([main_ids, delta_ids]),
                                         np.concatenate([main_codes, delta_codes]))
            except BaseException:
                with self._lock:
                    self._withdrawn_during_merge = None
                raise
            with self._lock:
                now = self._state
                withdrawn = np.concatenate([*self._withdrawn_during_merge, np.empty(0, dtype=np.uint64)])
                self._withdrawn_during_merge = None
                tombstones = _u32(_rows_of(segment.ids, withdrawn))
                # Entries added during the build stay in the delta, at positions shifted by base.delta_len.
                kept = now.delta_len - base.delta_len
                delta_ids, delta_words = _delta_arrays(kept)
                delta_ids[:kept] = now.delta_ids[base.delta_len:now.delta_len]
                delta_words[:, :kept] = now.delta_words[:, base.delta_len:now.delta_len]
                dead = now.delta_dead[now.delta_dead >= base.delta_len] - np.uint32(base.delta_len)
                self._state = _State(segment, tombstones, delta_ids, delta_words, kept, _u32(dead))

    def snapshot(self) -> HashIndex:
        """A new index holding exactly the live entries of this one now; later changes to either one never reach
        the other. Nothing is copied, so it is cheap enough to take while holding a lock: e.g. to save the index
        as of a known point while additions and withdrawals go on.

        The two share the main segment and the tombstone arrays, which are never modified once made, and the
        first ``delta_len`` entries of the delta arrays, which are never written again: an addition writes past
        ``delta_len`` and a merge makes new arrays. The snapshot's delta arrays are views exactly ``delta_len``
        long, so an addition to the snapshot allocates new ones instead of writing where this index appends.
        """
        state = self._state
        copy = HashIndex()
        copy._state = _State(state.main, state.tombstones, state.delta_ids[:state.delta_len],
                             state.delta_words[:, :state.delta_len], state.delta_len, state.delta_dead)
        return copy

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically (format in the module docstring); the old file stays valid
        until the new one is complete and durable."""
        state = self._state
        target = Path(path)
        if not target.parent.is_dir():
            raise ConfigurationError(f"cannot save the hash index: {target.parent} is not a folder",
                                     hint="create the folder or choose another path", code="hashbank_folder_missing")
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            with open(temporary, "xb") as out:
                _write(out, state)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_folder(target.parent)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HashIndex:
        """Read an index written by :meth:`save`, refusing a file that is truncated, altered or malformed."""
        source = Path(path)
        try:
            handle = open(source, "rb")  # noqa: SIM115 - the with statement below closes it
        except FileNotFoundError:
            raise NotFound(f"no hash index at {source}", hint="check the path, or build the index from the bank",
                           code="hashbank_file_missing") from None
        except OSError as exc:
            raise ConfigurationError(f"cannot read the hash index at {source}: {exc.strerror}",
                                     hint="check the path and its permissions", code="hashbank_file_unreadable",
                                     ) from None
        with handle:
            state = _read(handle, source)
        index = cls()
        index._state = state
        return index

    def stats(self) -> IndexStats:
        """Counts and memory of the index now."""
        state = self._state
        memory = (state.main.nbytes + state.tombstones.nbytes + state.delta_ids.nbytes + state.delta_words.nbytes
                  + state.delta_dead.nbytes)
        return IndexStats(entries=state.entries, main_rows=state.main.rows,
                          main_withdrawn=int(state.tombstones.size),
                          delta_entries=state.delta_len - int(state.delta_dead.size),
                          delta_withdrawn=int(state.delta_dead.size), substring_lengths=state.main.lengths,
                          memory_bytes=int(memory))


def _check_codes(value: npt.ArrayLike, name: str) -> _Codes:
    array = np.asarray(value)
    if array.dtype != np.uint8 or array.ndim != 2 or array.shape[1] != CODE_BYTES:
        raise ValidationError(f"{name} must be a uint8 array of shape (n, {CODE_BYTES}), not {array.dtype} "
                              f"{array.shape}", hint="pass the 32 bytes of each PDQ hash as one row",
                              code="hashbank_codes")
    return np.ascontiguousarray(array)


def _check_ids(value: npt.ArrayLike) -> _U64:
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "iu" or array.dtype == np.bool_:
        raise ValidationError(f"ids must be a one-dimensional integer array, not {array.dtype} {array.shape}",
                              hint="pass uint64 or non-negative int64 ids", code="hashbank_ids")
    if array.dtype.kind == "i" and array.size and int(array.min()) < 0:
        raise ValidationError(f"ids must not be negative (found {int(array.min())})",
                              hint="pass uint64 or non-negative int64 ids", code="hashbank_ids")
    return array.astype(np.uint64)


def _u32(values: npt.ArrayLike) -> _U32:
    array: _U32 = np.asarray(values, dtype=np.uint32)
    return array


def _rows_of(sorted_ids: _U64, wanted: _U64) -> _Index:
    """Rows of ``sorted_ids`` holding one of ``wanted`` (absent ids are skipped)."""
    rows = np.searchsorted(sorted_ids, wanted)
    rows = rows[rows < sorted_ids.shape[0]]
    return np.unique(rows[np.isin(sorted_ids[rows], wanted)])


def _locate(state: _State, ids: _U64) -> tuple[_Index, _Index]:
    """Main rows and delta positions of the live entries with these ids."""
    rows = _rows_of(state.main.ids, ids)
    rows = rows[~np.isin(rows, state.tombstones)]
    positions = np.flatnonzero(np.isin(state.delta_ids[:state.delta_len], ids))
    positions = positions[~np.isin(positions, state.delta_dead)]
    return rows, positions


def _even_split(parts: int) -> tuple[int, ...]:
    base, longer = divmod(CODE_BITS, parts)
    return (base + 1,) * longer + (base,) * (parts - longer)


def _ball(length: int, threshold: int) -> int:
    """Values within ``threshold`` bits of a ``length``-bit value."""
    return sum(math.comb(length, k) for k in range(threshold + 1))


def _thresholds(lengths: tuple[int, ...], rows: int, radius: int, budget: float) -> tuple[list[int], float] | None:
    """Thresholds with sum(t + 1) >= radius + 1 chosen greedily by cost (ball size x (1 + 2 x load)), or None
    when the cost exceeds ``budget``. Greedy is optimal while every threshold stays below half its substring's
    length (marginal costs grow); any thresholds meeting the sum give exact answers."""
    thresholds = [-1] * len(lengths)

    def cost(i: int, t: int) -> float:
        return 0.0 if t < 0 else _ball(lengths[i], t) * (1.0 + 2.0 * rows / (1 << lengths[i]))

    total = 0.0
    for _ in range(radius + 1):
        steps = [(cost(i, t + 1) - cost(i, t), i) for i, t in enumerate(thresholds) if t < lengths[i]]
        extra, best = min(steps)
        thresholds[best] += 1
        total += extra
        if total > budget:
            return None
    return thresholds, total


def _choose_lengths(rows: int) -> tuple[int, ...]:
    """Substring lengths for a main segment of ``rows`` entries (see the module docstring)."""
    best: tuple[float, tuple[int, ...]] | None = None
    for parts in range(_MIN_PARTS, _MAX_PARTS + 1):
        lengths = _even_split(parts)
        if 4 * sum(1 << b for b in lengths) > max(_SLOT_BYTES_PER_ENTRY * rows, _MIN_SLOT_BYTES):
            continue
        found = _thresholds(lengths, rows, DEFAULT_RADIUS, math.inf)
        assert found is not None
        if best is None or found[1] < best[0]:
            best = (found[1], lengths)
    assert best is not None
    return best[1]


def _make_plan(lengths: tuple[int, ...], rows: int, radius: int) -> _Plan:
    found = _thresholds(lengths, rows, radius, max(_SMALL_COST, rows / 8))
    if found is None:
        return _Plan(np.empty(0, dtype=np.intp), _u32([]), brute=True)
    columns: list[int] = []
    masks: list[int] = []
    for i, (length, threshold) in enumerate(zip(lengths, found[0], strict=True)):
        for k in range(threshold + 1):
            for flipped in itertools.combinations(range(length), k):
                masks.append(sum(1 << bit for bit in flipped))
                columns.append(i)
    return _Plan(np.asarray(columns, dtype=np.intp), _u32(masks), brute=False)


def _count_bits(positions: int) -> int:
    """Low bits of a packed slot that hold its range's length: all the bits ``positions`` leaves free."""
    return 32 - max(1, positions.bit_length())


def _pack_slots(offsets: _U32, count_bits: int) -> _U32:
    """``(offsets[k] << count_bits) | min(offsets[k + 1] - offsets[k], 2**count_bits - 1)`` (0 past the end)."""
    lengths = np.minimum(np.diff(offsets, append=offsets[-1:]), (1 << count_bits) - 1).astype(np.uint32)
    packed: _U32 = (offsets << np.uint32(count_bits)) | lengths
    return packed


def _slot_bases(lengths: tuple[int, ...]) -> _U32:
    return _u32([sum(1 << b for b in lengths[:i]) for i in range(len(lengths))])


@dataclass(frozen=True, slots=True)
class _Windows:
    """Where each substring lies: 5 byte positions of a code padded to 36 bytes, then shift and mask."""

    columns: _Index
    shifts: _U64
    masks: _U64


def _windows(lengths: tuple[int, ...]) -> _Windows:
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    columns = np.asarray([[s // 8 + k for k in range(5)] for s in starts], dtype=np.intp).reshape(-1, 5)
    shifts = np.asarray([40 - s % 8 - b for s, b in zip(starts, lengths, strict=True)], dtype=np.uint64)
    masks = np.asarray([(1 << b) - 1 for b in lengths], dtype=np.uint64)
    return _Windows(columns, shifts, masks)


def _substrings(codes: _Codes, windows: _Windows, part: int | None) -> _U32:
    """(n, parts) values of substring ``part`` (all substrings when None) of each code."""
    chosen = slice(None) if part is None else slice(part, part + 1)
    padded = np.zeros((codes.shape[0], CODE_BYTES + 4), dtype=np.uint8)
    padded[:, :CODE_BYTES] = codes
    window = padded[:, windows.columns[chosen]].astype(np.uint64)
    window <<= _WINDOW_SHIFTS
    values: _U64 = np.bitwise_or.reduce(window, axis=2)
    values >>= windows.shifts[chosen]
    values &= windows.masks[chosen]
    return values.astype(np.uint32)


def _brute_force(columns: list[_U64], queries: _Codes, radius: int) -> _Found:
    """(query, row, distance) of every code within ``radius`` of a query, comparing all pairs; ``columns`` are
    the four 64-bit words of the codes, each as one array (contiguous or not)."""
    query_words = queries.view(np.uint64)
    found: list[_Found] = [_empty()]
    per_step = max(1, _PAIRS_PER_STEP // max(1, len(queries)))
    for start in range(0, columns[0].shape[0], per_step):
        # uint8 sums wrap only at 256 (every bit differs); the exact recount of the few hits removes those.
        distance = np.zeros((len(queries), min(per_step, columns[0].shape[0] - start)), dtype=np.uint8)
        for k, column in enumerate(columns):
            distance += np.bitwise_count(column[None, start:start + per_step] ^ query_words[:, k, None])
        query, row = np.nonzero(distance <= radius)
        row += start
        exact = sum((np.bitwise_count(c[row] ^ query_words[query, k]).astype(np.uint32)
                     for k, c in enumerate(columns)), _u32(np.zeros(len(row))))
        keep = exact <= radius
        found.append((query[keep], _u32(row[keep]), exact[keep]))
    return _concat(found)


def _columns(codes: _Codes) -> list[_U64]:
    """The four 64-bit words of each code, as four (strided) views."""
    words = codes.view(np.uint64)
    return [words[:, k] for k in range(4)]


def _rows(words: _U64) -> _Codes:
    """(n, 32) codes from their (4, n) words."""
    codes: _Codes = np.ascontiguousarray(words.T).view(np.uint8)
    return codes


def _delta_arrays(capacity: int) -> tuple[_U64, _U64]:
    """Empty delta arrays for at least ``capacity`` entries (ids, and words as four columns)."""
    capacity = max(capacity, 1024)
    return np.empty(capacity, dtype=np.uint64), np.empty((4, capacity), dtype=np.uint64)


def _empty() -> _Found:
    return np.empty(0, dtype=np.intp), _u32([]), _u32([])


def _concat(parts: list[_Found]) -> _Found:
    return (np.concatenate([p[0] for p in parts]).astype(np.intp), _u32(np.concatenate([p[1] for p in parts])),
            _u32(np.concatenate([p[2] for p in parts])))


def _aligned_codes(rows: int) -> _Codes:
    """An uninitialised (rows, 32) array starting at a 64-byte boundary, so that no code straddles two cache
    lines."""
    raw = np.empty(rows * CODE_BYTES + _ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start:start + rows * CODE_BYTES].reshape(rows, CODE_BYTES)


def _padding(position: int) -> int:
    return -position % _ALIGN


def _sections(state: _State) -> list[npt.NDArray[np.generic]]:
    delta_ids, delta_codes = state.live_delta()
    main = state.main
    # No copies on little-endian machines: astype(copy=False) returns the arrays themselves.
    return [main.ids.astype("<u8", copy=False), main.codes, main.slots.astype("<u4", copy=False),
            main.order.astype("<u4", copy=False), state.tombstones.astype("<u4", copy=False),
            delta_ids.astype("<u8", copy=False), delta_codes]


def _write(out: BinaryIO, state: _State) -> None:
    sections = _sections(state)
    lengths = bytes(state.main.lengths).ljust(32, b"\0")
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, CODE_BYTES, state.main.rows, len(state.tombstones),
                          len(sections[5]), len(state.main.lengths), 0, lengths)
    digest = hashlib.sha256()
    pieces: list[bytes | memoryview] = [header]
    position = len(header)
    for section in sections:
        data = _bytes_of(np.ascontiguousarray(section))
        pieces += [b"\0" * _padding(position), data]
        position += _padding(position) + len(data)
    pieces.append(b"\0" * _padding(position))
    for piece in pieces:
        _write_piece(out, piece)
        digest.update(piece)
    _write_piece(out, digest.digest())


def _bytes_of(array: npt.NDArray[np.generic]) -> memoryview:
    """The bytes of a C-contiguous array, without a copy."""
    return array.reshape(-1).view(np.uint8).data if array.size else memoryview(b"")


def _write_piece(out: BinaryIO, data: bytes | memoryview) -> None:
    out.write(data)


def _layout_error(source: Path, message: str, code: str = "hashbank_file_corrupt") -> ValidationError:
    return ValidationError(f"{source}: {message}", hint="restore the previous copy of the index or rebuild it "
                           "from the bank", code=code)


def _read(handle: io.BufferedReader, source: Path) -> _State:
    size = os.fstat(handle.fileno()).st_size
    raw = handle.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise _layout_error(source, f"{size} bytes, shorter than the {_HEADER.size}-byte header",
                            "hashbank_file_truncated")
    magic, version, code_bytes, rows, dead, delta, parts, zero, raw_lengths = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise _layout_error(source, f"not a hash index (magic {magic!r} at byte 0)", "hashbank_file_format")
    if version != FORMAT_VERSION:
        raise _layout_error(source, f"format version {version} at byte 8; this node reads {FORMAT_VERSION}",
                            "hashbank_file_version")
    lengths = tuple(raw_lengths[:parts])
    if (code_bytes != CODE_BYTES or zero or parts > _MAX_PARTS or any(raw_lengths[parts:]) or dead > rows
            or parts * rows >= 1 << 31
            or (rows and (sum(lengths) != CODE_BITS or not all(1 <= b <= 32 for b in lengths)
                          or list(lengths) != sorted(lengths, reverse=True)))
            or (not rows and parts)):
        raise _layout_error(source, "header fields (bytes 12-127) are inconsistent", "hashbank_file_format")
    slots = sum(1 << b for b in lengths)
    shapes: list[tuple[tuple[int, ...], str]] = [
        ((rows,), "<u8"), ((rows, CODE_BYTES), "u1"), ((slots + 1,), "<u4"), ((parts * rows,), "<u4"),
        ((dead,), "<u4"), ((delta,), "<u8"), ((delta, CODE_BYTES), "u1")]
    end = _HEADER.size
    for shape, dtype in shapes:
        end += _padding(end) + math.prod(shape) * np.dtype(dtype).itemsize
    end += _padding(end)
    if size != end + _DIGEST_BYTES:
        kind = "hashbank_file_truncated" if size < end + _DIGEST_BYTES else "hashbank_file_corrupt"
        raise _layout_error(source, f"{size} bytes where the header (n={rows}, w={dead}, d={delta}, m={parts}) "
                            f"implies {end + _DIGEST_BYTES}", kind)
    digest = hashlib.sha256(raw)
    arrays: list[npt.NDArray[np.generic]] = []
    position = _HEADER.size
    for shape, dtype in shapes:
        gap = handle.read(_padding(position))
        digest.update(gap)
        array = _aligned_codes(shape[0]) if dtype == "u1" else np.empty(shape, dtype=dtype)
        view = _bytes_of(array)
        if len(view) and handle.readinto(view) != len(view):
            raise _layout_error(source, f"short read at byte {position}", "hashbank_file_truncated")
        digest.update(view)
        position += len(gap) + len(view)
        arrays.append(array)
    digest.update(handle.read(_padding(position)))
    stored = handle.read(_DIGEST_BYTES)
    if stored != digest.digest():
        raise _layout_error(source, f"SHA-256 at byte {end} does not match the content: the file is damaged")
    ids, codes, slots, order, tombstones, delta_ids, delta_codes = arrays
    segment = _Segment(ids.astype(np.uint64, copy=False), np.asarray(codes, dtype=np.uint8), lengths,
                       slots.astype(np.uint32, copy=False), order.astype(np.uint32, copy=False))
    state = _State(segment, tombstones.astype(np.uint32, copy=False), delta_ids.astype(np.uint64, copy=False),
                   np.ascontiguousarray(delta_codes.view(np.uint64).T), int(delta), _u32([]))
    problem = _structure_problem(state)
    if problem:
        raise _layout_error(source, problem, "hashbank_file_format")
    return state


def _structure_problem(state: _State) -> str:
    """What is wrong with the arrays of a checksummed file ("" when nothing): a valid digest proves that the
    file is as written, not that its writer was correct. These checks are linear and cheap, and keep every
    index the search reads within its array; they do not re-sort the tables."""
    main, tombstones, delta_ids = state.main, state.tombstones, state.delta_ids
    ids, rows = main.ids, main.rows
    offsets = main.slots >> np.uint32(main.count_bits)
    if rows and not bool(np.all(ids[1:] > ids[:-1])):
        return "main ids are not strictly ascending"
    bases = [int(b) for b in _slot_bases(main.lengths)]
    if (int(offsets[0]) != 0 or int(offsets[-1]) != len(main.lengths) * rows
            or not bool(np.all(offsets[1:] >= offsets[:-1]))
            or any(int(offsets[b]) != i * rows for i, b in enumerate(bases))):
        return "the slots section is not a valid table index"
    if not np.array_equal(main.slots, _pack_slots(offsets, main.count_bits)):
        return "the slots section's range lengths disagree with its starts"
    if main.order.size and int(main.order.max()) >= rows:
        return "the order section names a row beyond the main segment"
    if tombstones.size and (not bool(np.all(tombstones[1:] > tombstones[:-1])) or int(tombstones[-1]) >= rows):
        return "tombstones are not ascending rows of the main segment"
    live = np.delete(ids, tombstones.astype(np.intp))
    if np.unique(delta_ids).size != delta_ids.size or bool(np.isin(delta_ids, live).any()):
        return "an id is live twice"
    return ""
