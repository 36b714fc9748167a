"""The exact matcher: same answers as brute force at the edges of the radius (31 found, 32 not), on random
banks and hypothesis-made ones; withdrawals never match again (delta, main, merged, reloaded); additions
visible at once; merges and saves that fail half-way change nothing; damaged files refused."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.errors import ConfigurationError, Conflict, NotFound, ValidationError
from hanoinet.hashbank import index as index_module
from hanoinet.hashbank.index import HashIndex, Matches

Codes = npt.NDArray[np.uint8]
Triples = list[tuple[int, int, int]]


def random_codes(count: int, seed: int) -> Codes:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 32), dtype=np.uint8)


def flipped(code: Codes, bits: int, seed: int) -> Codes:
    """``code`` with exactly ``bits`` distinct bits flipped."""
    unpacked = np.unpackbits(code)
    unpacked[np.random.default_rng(seed).choice(256, size=bits, replace=False)] ^= 1
    return np.packbits(unpacked)


# Bits set in each byte value, counted by unpacking: independent of the index's np.bitwise_count kernels.
BITS_IN_BYTE = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint16)


def brute_force(ids: npt.NDArray[np.uint64], codes: Codes, queries: Codes, radius: int,
                distances: npt.NDArray[np.uint16] | None = None) -> Triples:
    """(query, id, distance) of every pair within ``radius``, comparing every code with every query."""
    if not len(codes):
        return []
    if distances is None:
        distances = BITS_IN_BYTE[queries[:, None, :] ^ codes[None, :, :]].sum(axis=2, dtype=np.uint16)
    query, row = np.nonzero(distances <= radius)
    return sorted(zip(query.tolist(), ids[row].tolist(), distances[query, row].tolist(), strict=True))


def triples(found: Matches) -> Triples:
    """The matches as sorted (query, id, distance) triples."""
    return sorted(zip(found.query.tolist(), found.ids.tolist(), found.distance.tolist(), strict=True))


def near_queries(codes: Codes, count: int, seed: int, most: int = 40) -> Codes:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(codes), size=count)
    return np.stack([flipped(codes[p], int(rng.integers(0, most + 1)), seed + i) for i, p in enumerate(picks)])


def built(ids: npt.NDArray[np.uint64], codes: Codes) -> HashIndex:
    index = HashIndex()
    index.add(ids, codes)
    index.merge()
    return index


@pytest.fixture(scope="module")
def bank() -> tuple[npt.NDArray[np.uint64], Codes]:
    # Ids over the whole unsigned 64-bit range, in no particular order.
    rng = np.random.default_rng(1)
    ids = rng.permutation(np.unique(rng.integers(0, 2**64, size=3100, dtype=np.uint64, endpoint=False))[:3000])
    return ids, random_codes(3000, 2)


@pytest.fixture(scope="module")
def sealed(bank: tuple[npt.NDArray[np.uint64], Codes]) -> HashIndex:
    return built(*bank)


def test_distances_at_the_edges_of_the_radius(bank: tuple[npt.NDArray[np.uint64], Codes], sealed: HashIndex) -> None:
    ids, codes = bank
    edges = [0, 1, 15, 16, 31, 32]
    queries = np.stack([flipped(codes[100 + i], bits, seed=i) for i, bits in enumerate(edges)])
    found = sealed.search(queries)
    assert triples(found) == [(i, int(ids[100 + i]), bits) for i, bits in enumerate(edges) if bits <= 31]
    assert triples(found) == brute_force(ids, codes, queries, 31)
    assert triples(sealed.search(queries, radius=32))[-1] == (5, int(ids[105]), 32)


def test_random_bank_matches_brute_force_at_every_radius(bank: tuple[npt.NDArray[np.uint64], Codes],
                                                         sealed: HashIndex) -> None:
    ids, codes = bank
    queries = np.concatenate([near_queries(codes, 300, seed=3), random_codes(50, 4)])
    # Radius 31 goes through the multi-index; 100 and 256 compare with every code.
    assert not sealed._state.main.plan(31).brute
    assert sealed._state.main.plan(100).brute
    distances = BITS_IN_BYTE[queries[:, None, :] ^ codes[None, :, :]].sum(axis=2, dtype=np.uint16)
    for radius in (0, 7, 16, 31, 32, 48, 100, 256):
        assert triples(sealed.search(queries, radius)) == brute_force(ids, codes, queries, radius, distances)


@settings(max_examples=60)
@given(bank=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=120),
       picks=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 256), st.integers(0, 2**32 - 1)),
                      min_size=1, max_size=12),
       radius=st.integers(0, 64), merged=st.booleans())
def test_any_bank_matches_brute_force(bank: list[bytes], picks: list[tuple[int, int, int]], radius: int,
                                      merged: bool) -> None:
    codes = np.frombuffer(b"".join(bank), dtype=np.uint8).reshape(-1, 32)
    ids = np.arange(len(bank), dtype=np.uint64) * 3 + 5
    queries = np.stack([flipped(codes[p % len(bank)], bits, seed) for p, bits, seed in picks])
    index = HashIndex()
    index.add(ids, codes)
    if merged:
        index.merge()
    assert triples(index.search(queries, radius)) == brute_force(ids, codes, queries, radius)


def test_degenerate_bank_of_equal_substrings_matches_brute_force() -> None:
    # Thousands of codes sharing most bits: every probe finds a long run of candidates.
    base = random_codes(1, 5)[0]
    codes = np.stack([flipped(base, i % 24, seed=i) for i in range(6000)])
    ids = np.arange(6000, dtype=np.uint64)
    index = built(ids, codes)
    queries = np.concatenate([near_queries(codes, 20, seed=6), random_codes(5, 7)])
    found = index.search(queries)
    assert triples(found) == brute_force(ids, codes, queries, 31)
    # Sorted by query, then distance, then id.
    assert np.array_equal(np.lexsort((found.ids, found.distance, found.query)), np.arange(len(found.ids)))


def test_additions_are_visible_at_once_then_sealed(bank: tuple[npt.NDArray[np.uint64], Codes]) -> None:
    ids, codes = bank
    index = built(ids[:2000], codes[:2000])
    queries = near_queries(codes, 200, seed=8)
    index.add(ids[2000:], codes[2000:])
    assert len(index) == 3000
    assert index.stats().delta_entries == 1000
    assert triples(index.search(queries)) == brute_force(ids, codes, queries, 31)
    index.merge()
    assert index.stats().delta_entries == 0
    assert triples(index.search(queries)) == brute_force(ids, codes, queries, 31)


def test_withdrawn_entries_never_match_again(bank: tuple[npt.NDArray[np.uint64], Codes], tmp_path: Path) -> None:
    ids, codes = bank
    index = built(ids[:2000], codes[:2000])
    index.add(ids[2000:], codes[2000:])
    queries = codes[::5]
    gone = np.concatenate([ids[:500], ids[2000:2300]])
    assert index.withdraw(gone) == 800
    assert index.withdraw(gone) == 0
    assert index.withdraw(np.array([10**13], dtype=np.uint64)) == 0
    alive = ~np.isin(ids, gone)
    expected = brute_force(ids[alive], codes[alive], queries, 31)
    assert triples(index.search(queries)) == expected
    index.save(tmp_path / "bank.idx")
    assert triples(HashIndex.load(tmp_path / "bank.idx").search(queries)) == expected
    index.merge()
    assert len(index) == 2200
    assert index.stats().main_withdrawn == 0
    assert triples(index.search(queries)) == expected
    index.save(tmp_path / "bank.idx")
    assert triples(HashIndex.load(tmp_path / "bank.idx").search(queries)) == expected


def test_snapshot_keeps_its_entries_while_either_index_changes(bank: tuple[npt.NDArray[np.uint64], Codes],
                                                              tmp_path: Path) -> None:
    ids, codes = bank
    index = built(ids[:1000], codes[:1000])
    index.add(ids[1000:1100], codes[1000:1100])
    index.withdraw(ids[[5, 1005]])
    snapshot = index.snapshot()
    queries = codes[:1300:4]

    def expected(rows: npt.NDArray[np.intp]) -> Triples:
        return brute_force(ids[rows], codes[rows], queries, 31)

    taken = np.setdiff1d(np.arange(1100), [5, 1005])
    assert triples(snapshot.search(queries)) == expected(taken)
    # The original appends into the delta arrays both share (they have room for 1,024) and withdraws.
    index.add(ids[1100:1200], codes[1100:1200])
    index.withdraw(ids[[6, 1006]])
    assert triples(snapshot.search(queries)) == expected(taken)
    # An addition to the snapshot must not write where the original has just appended.
    snapshot.add(ids[1200:1210], codes[1200:1210])
    current = np.setdiff1d(np.arange(1200), [5, 1005, 6, 1006])
    assert triples(index.search(queries)) == expected(current)
    assert triples(snapshot.search(queries)) == expected(np.concatenate([taken, np.arange(1200, 1210)]))
    index.merge()
    assert triples(snapshot.search(queries)) == expected(np.concatenate([taken, np.arange(1200, 1210)]))
    assert triples(index.search(queries)) == expected(current)
    snapshot.save(tmp_path / "snapshot.idx")
    assert triples(HashIndex.load(tmp_path / "snapshot.idx").search(queries)) == triples(snapshot.search(queries))


def test_an_id_is_live_once_and_may_come_back_after_withdrawal(bank: tuple[npt.NDArray[np.uint64], Codes]) -> None:
    ids, codes = bank
    index = built(ids[:10], codes[:10])
    with pytest.raises(Conflict) as caught:
        index.add(ids[9:11], codes[9:11])
    assert caught.value.code == "hashbank_id_exists"
    assert len(index) == 10
    index.withdraw(ids[:1])
    index.add(ids[:1], codes[20:21])
    assert triples(index.search(codes[[0, 20]], radius=0)) == [(1, int(ids[0]), 0)]
    with pytest.raises(Conflict):
        index.add(ids[:1], codes[21:22])


@pytest.mark.parametrize(("call", "code"), [
    (lambda ix: ix.add(np.arange(2), np.zeros((2, 31), np.uint8)), "hashbank_codes"),
    (lambda ix: ix.add(np.arange(2), np.zeros((2, 32), np.int16)), "hashbank_codes"),
    (lambda ix: ix.add(np.arange(3), np.zeros((2, 32), np.uint8)), "hashbank_ids"),
    (lambda ix: ix.add(np.array([1, 1]), np.zeros((2, 32), np.uint8)), "hashbank_ids"),
    (lambda ix: ix.add(np.array([-1, 2]), np.zeros((2, 32), np.uint8)), "hashbank_ids"),
    (lambda ix: ix.add(np.array([1.0, 2.0]), np.zeros((2, 32), np.uint8)), "hashbank_ids"),
    (lambda ix: ix.withdraw(np.array([[1]])), "hashbank_ids"),
    (lambda ix: ix.search(np.zeros(32, np.uint8)), "hashbank_codes"),
    (lambda ix: ix.search(np.zeros((1, 32), np.uint8), radius=257), "hashbank_radius"),
    (lambda ix: ix.search(np.zeros((1, 32), np.uint8), radius=-1), "hashbank_radius"),
])
def test_malformed_input_is_refused(call: Callable[[HashIndex], object], code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call(HashIndex())
    assert caught.value.code == code


def test_empty_index_and_empty_batch() -> None:
    index = HashIndex()
    assert len(index) == 0
    assert triples(index.search(random_codes(3, 9))) == []
    index.add(np.arange(3), random_codes(3, 9))
    assert triples(index.search(np.zeros((0, 32), np.uint8))) == []


@pytest.fixture
def saved(bank: tuple[npt.NDArray[np.uint64], Codes], tmp_path: Path) -> Iterator[tuple[HashIndex, Path]]:
    ids, codes = bank
    index = built(ids[:1500], codes[:1500])
    index.add(ids[1500:1600], codes[1500:1600])
    index.withdraw(ids[[3, 1550]])
    path = tmp_path / "bank.idx"
    index.save(path)
    yield index, path


def test_save_and_load_round_trip(saved: tuple[HashIndex, Path], bank: tuple[npt.NDArray[np.uint64], Codes]) -> None:
    index, path = saved
    queries = near_queries(bank[1], 200, seed=10)
    loaded = HashIndex.load(path)
    assert len(loaded) == len(index) == 1598
    assert loaded.stats().main_withdrawn == 1
    assert triples(loaded.search(queries)) == triples(index.search(queries))
    assert path.read_bytes()[:8] == b"HNPDQIDX"
    loaded.add(bank[0][2000:2001], bank[1][2000:2001])
    assert len(loaded) == 1599


@settings(max_examples=40)
@given(position=st.integers(0, 10**9), change=st.integers(1, 255))
def test_any_altered_byte_is_refused(saved_bytes: bytes, tmp_path_factory: pytest.TempPathFactory, position: int,
                                     change: int) -> None:
    damaged = bytearray(saved_bytes)
    damaged[position % len(damaged)] ^= change
    path = tmp_path_factory.mktemp("damaged") / "bank.idx"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValidationError) as caught:
        HashIndex.load(path)
    assert caught.value.code.startswith("hashbank_file_")


@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    index = built(np.arange(300, dtype=np.uint64), random_codes(300, 11))
    index.add(np.array([1000]), random_codes(1, 12))
    index.withdraw(np.array([7]))
    path = tmp_path_factory.mktemp("saved") / "bank.idx"
    index.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0, 7, 127, 128, 5000, -32, -1])
def test_truncated_file_is_refused(saved_bytes: bytes, tmp_path: Path, keep: int) -> None:
    path = tmp_path / "bank.idx"
    path.write_bytes(saved_bytes[:keep])
    with pytest.raises(ValidationError) as caught:
        HashIndex.load(path)
    assert caught.value.code == "hashbank_file_truncated"
    assert "bytes" in caught.value.message


def test_wrong_kind_of_file_and_missing_file(tmp_path: Path, saved_bytes: bytes) -> None:
    path = tmp_path / "bank.idx"
    path.write_bytes(b"PK\x03\x04" + saved_bytes[4:])
    with pytest.raises(ValidationError) as caught:
        HashIndex.load(path)
    assert caught.value.code == "hashbank_file_format"
    with pytest.raises(NotFound):
        HashIndex.load(tmp_path / "absent.idx")
    with pytest.raises(ConfigurationError) as refused:
        HashIndex.load(tmp_path)
    assert refused.value.code == "hashbank_file_unreadable"
    with pytest.raises(ConfigurationError) as refused:
        HashIndex().save(tmp_path / "absent" / "bank.idx")
    assert refused.value.code == "hashbank_folder_missing"


def test_checksummed_but_inconsistent_file_is_refused(saved_bytes: bytes, tmp_path: Path) -> None:
    # Swap the first two main ids (section 1 starts at byte 128) and re-seal: the digest is right, the order not.
    data = bytearray(saved_bytes[:-32])
    data[128:136], data[136:144] = data[136:144], data[128:136]
    path = tmp_path / "bank.idx"
    path.write_bytes(bytes(data) + hashlib.sha256(data).digest())
    with pytest.raises(ValidationError) as caught:
        HashIndex.load(path)
    assert caught.value.code == "hashbank_file_format"


def test_failed_save_leaves_the_previous_file(saved: tuple[HashIndex, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    index, path = saved
    before = path.read_bytes()
    written: list[int] = []
    real_write = index_module._write_piece

    def write_then_die(out: BinaryIO, data: bytes | memoryview) -> None:
        if len(written) == 4:
            raise KeyboardInterrupt  # as if the process were stopped half-way through the file
        written.append(len(data))
        real_write(out, data)

    index.add(np.array([10**14]), random_codes(1, 13))
    monkeypatch.setattr(index_module, "_write_piece", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        index.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert len(HashIndex.load(path)) == 1598
    monkeypatch.undo()
    index.save(path)
    assert len(HashIndex.load(path)) == 1599


def test_failed_merge_changes_nothing(bank: tuple[npt.NDArray[np.uint64], Codes],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ids, codes = bank
    index = built(ids[:1000], codes[:1000])
    index.add(ids[1000:1200], codes[1000:1200])
    index.withdraw(ids[:50])
    queries = near_queries(codes, 100, seed=14)
    before = triples(index.search(queries))

    def die(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(index_module._Segment, "build", die)
    with pytest.raises(MemoryError):
        index.merge()
    assert triples(index.search(queries)) == before
    assert index.stats().delta_entries == 200
    monkeypatch.undo()
    index.merge()
    assert triples(index.search(queries)) == before
    assert index.stats().delta_entries == 0


def test_changes_made_while_a_merge_builds_are_kept(bank: tuple[npt.NDArray[np.uint64], Codes],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ids, codes = bank
    index = built(ids[:1000], codes[:1000])
    index.add(ids[1000:1100], codes[1000:1100])
    real_build = index_module._Segment.build

    def build_while_others_write(cls: type, new_ids: npt.NDArray[np.uint64], new_codes: Codes) -> object:
        index.withdraw(ids[[0, 1050]])  # one in the main segment, one in the delta being merged
        index.add(ids[1100:1200], codes[1100:1200])
        index.withdraw(ids[[1150]])  # added during the merge
        return real_build(new_ids, new_codes)

    monkeypatch.setattr(index_module._Segment, "build", classmethod(build_while_others_write))
    index.merge()
    alive = np.zeros(len(ids), dtype=bool)
    alive[:1200] = True
    alive[[0, 1050, 1150]] = False
    assert len(index) == 1197
    assert index.stats().delta_entries == 99
    assert triples(index.search(codes[:1200])) == brute_force(ids[alive], codes[alive], codes[:1200], 31)


def test_searches_run_while_others_add_withdraw_and_merge(bank: tuple[npt.NDArray[np.uint64], Codes]) -> None:
    ids, codes = bank
    index = built(ids[:1000], codes[:1000])
    stop = threading.Event()
    problems: list[str] = []
    announced: set[int] = set()  # ids about to be withdrawn (a superset of those withdrawn)
    withdrawn: set[int] = set()  # ids whose withdrawal has returned
    everyone = set(ids[:1000].tolist())

    def search_forever() -> None:
        while not stop.is_set():
            gone = set(withdrawn)
            found = set(index.search(codes[:1000], radius=0).ids.tolist())
            missing = everyone - set(announced) - found
            if missing or gone & found:
                problems.append(f"missing {sorted(missing)[:3]}, withdrawn but found {sorted(gone & found)[:3]}")

    searcher = threading.Thread(target=search_forever)
    searcher.start()
    try:
        for round_ in range(6):
            index.add(ids[1000 + 100 * round_:1100 + 100 * round_], codes[1000 + 100 * round_:1100 + 100 * round_])
            chosen = ids[round_ * 7:round_ * 7 + 5].tolist()
            announced.update(chosen)
            index.withdraw(np.array(chosen, dtype=np.uint64))
            withdrawn.update(chosen)
            index.merge()
    finally:
        stop.set()
        searcher.join()
    assert problems == []
    assert len(index) == 1600 - 30


@pytest.mark.parametrize("count_bits", [1, 2])
def test_ranges_longer_than_the_packed_length_field(bank: tuple[npt.NDArray[np.uint64], Codes], count_bits: int,
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Large banks leave few bits for the length of a slot's range; longer ranges are read from the next slot.
    monkeypatch.setattr(index_module, "_count_bits", lambda positions: count_bits)
    ids, codes = bank
    index = built(ids, codes)
    queries = near_queries(codes, 150, seed=15)
    assert triples(index.search(queries)) == brute_force(ids, codes, queries, 31)
    index.save(tmp_path / "bank.idx")
    assert triples(HashIndex.load(tmp_path / "bank.idx").search(queries)) == brute_force(ids, codes, queries, 31)


def test_multi_index_at_any_radius_up_to_complements(monkeypatch: pytest.MonkeyPatch) -> None:
    # Large radii normally compare with every code; forced through the tables, they must agree too, up to
    # codes that differ in every bit (distance 256).
    monkeypatch.setattr(index_module, "_SMALL_COST", 10**9)
    codes = random_codes(200, 16)
    codes[100:110] = ~codes[:10]
    ids = np.arange(200, dtype=np.uint64)
    index = built(ids, codes)
    for radius in (130, 255, 256):
        assert not index._state.main.plan(radius).brute
        assert triples(index.search(codes[:10], radius)) == brute_force(ids, codes, codes[:10], radius)
