"""C2SP tlog-tiles: spec, tessera and Go vectors; node location checked against a naive RFC 6962 tree."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.ledger.tiles import (
    MAX_TILE_INDEX,
    MAX_TREE_SIZE,
    TILE_WIDTH,
    EntryBundle,
    Tile,
    TileError,
    _new_tiles,
    decode_entry_bundle,
    decode_tile,
    encode_entry_bundle,
    encode_tile,
    entry_bundle_for_index,
    format_tile_index,
    new_tiles,
    parse_tile_index,
    parse_tile_path,
    tile_for_node,
    tile_width,
    tiles_for_size,
)

MAX_U64 = 2**64 - 1


# --- paths -----------------------------------------------------------------------------------------------------


def test_spec_index_example() -> None:
    # c2sp.org/tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    assert format_tile_index(1234067) == "x001/x234/067"
    assert parse_tile_index("x001/x234/067") == 1234067
    assert format_tile_index(0) == "000"
    assert format_tile_index(999) == "999"
    assert format_tile_index(1000) == "x001/000"
    assert format_tile_index(MAX_U64) == "x018/x446/x744/x073/x709/x551/615"


@pytest.mark.parametrize(
    ("level", "index", "tree_size", "path"),
    [
        # transparency-dev/trillian-tessera api/layout/paths_test.go, TestTilePath (partial width from the size).
        (0, 0, 256, "tile/0/000"),
        (0, 0, 255, "tile/0/000.p/255"),
        (1, 0, MAX_U64, "tile/1/000"),
        (1, 0, 256, "tile/1/000.p/1"),
        (1, 0, 1024, "tile/1/000.p/4"),
    ],
)
def test_tessera_tile_paths(level: int, index: int, tree_size: int, path: str) -> None:
    tile = Tile(level=level, index=index, width=tile_width(level, index, tree_size))
    assert tile.path == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    ("level", "index", "path"),
    [(15, 455667, "tile/15/x455/667"), (3, 1234567, "tile/3/x001/x234/567"), (15, 123456789, "tile/15/x123/x456/789")],
)
def test_tessera_full_tile_paths(level: int, index: int, path: str) -> None:
    assert Tile(level=level, index=index).path == path
    assert parse_tile_path(path) == Tile(level=level, index=index)


@pytest.mark.parametrize(
    ("entry", "tree_size", "path"),
    [
        # tessera TestEntriesPathForLogIndex.
        (0, 256, "tile/entries/000"),
        (255, 256, "tile/entries/000"),
        (251, 255, "tile/entries/000.p/255"),
        (256, 512, "tile/entries/001"),
        (256, 257, "tile/entries/001.p/1"),
        (123456789 * 256, 123456790 * 256, "tile/entries/x123/x456/789"),
    ],
)
def test_tessera_entry_bundle_paths(entry: int, tree_size: int, path: str) -> None:
    bundle = entry_bundle_for_index(entry, tree_size)
    assert bundle.path == path
    assert parse_tile_path(path) == bundle
    assert bundle.start_index <= entry < bundle.end_index


def test_tessera_entries_paths() -> None:
    # tessera TestEntriesPath, except (255, 255*256-3): tessera gives bundle 255 width 253 although that tree's
    # last bundle is 254; here bundle 255 does not exist at that size.
    assert EntryBundle(index=0).path == "tile/entries/000"
    assert EntryBundle(index=0, width=8).path == "tile/entries/000.p/8"
    assert EntryBundle(index=255).path == "tile/entries/255"
    assert EntryBundle(index=256).path == "tile/entries/256"
    assert EntryBundle(index=123456789000).path == "tile/entries/x123/x456/x789/000"
    assert tile_width(0, 255, 255 * 256 - 3) == 0
    assert tile_width(0, 254, 255 * 256 - 3) == 253


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        # tessera TestParseTileLevelIndexWidth, the valid cases.
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (0, 1234067, 89, "tile/0/x001/x234/067.p/89"),
        (63, 999999999999999999, 255, "tile/63/x999/x999/x999/x999/x999/999.p/255"),
        (0, 1, 256, "tile/0/001"),
    ],
)
def test_tessera_parse_valid(level: int, index: int, width: int, path: str) -> None:
    tile = parse_tile_path(path)
    assert tile == Tile(level=level, index=index, width=width)
    assert tile.path == path


@pytest.mark.parametrize(
    ("path", "code"),
    [
        # tessera TestParseTileLevelIndexWidth, the invalid cases.
        ("tile/0/x001/x234/067.p/", "tile_path_width"),
        ("tile/0/x001/x234/067.p", "tile_path_index"),
        ("tile/0/x001/x234/", "tile_path_index"),
        ("tile/0/x001/x234", "tile_path_index"),
        ("tile/0/x001/", "tile_path_index"),
        ("tile/0/x001", "tile_path_index"),
        ("tile/1/x001/.p/abc", "tile_path_width"),
        ("tile/64/x001/002", "tile_path_level"),
        ("tile/-1/x001/002", "tile_path_level"),
        ("tile/abc/x001/002", "tile_path_level"),
        ("tile/8/001/002", "tile_path_index"),
        ("tile/8/x001/0002", "tile_path_index"),
        ("tile/8/x001/-002", "tile_path_index"),
        ("tile/8/x001/002.p/256", "tile_path_width"),
        # Non-canonical forms the spec does not write.
        ("tile/01/000", "tile_path_level"),
        ("tile/00/000", "tile_path_level"),
        ("tile/0/x000/001", "tile_path_index"),
        ("tile/0/00", "tile_path_index"),
        ("tile/0/0001", "tile_path_index"),
        ("tile/0/X001/002", "tile_path_index"),
        ("tile/0/000.p/0", "tile_path_width"),
        ("tile/0/000.p/05", "tile_path_width"),
        ("tile/0/000.p/+5", "tile_path_width"),
        ("tile/0/000.p/5/", "tile_path_index"),
        ("tile/0/\u0661\u0662\u0663", "tile_path_index"),
        ("tile/0/x018/x446/x744/x073/x709/x551/616", "tile_path_index"),  # 2^64
        ("tile/0/x001/x001/x001/x001/x001/x001/x001/001", "tile_path_index"),
        ("tile/entries/x001", "tile_path_index"),
        ("tile/entries/000.p/256", "tile_path_width"),
        # A golang.org/x/mod/sumdb/tlog path carries the tile height (tile/H/L/N); C2SP paths do not.
        ("tile/8/0/001", "tile_path_index"),
        ("/tile/0/000", "tile_path_malformed"),
        ("tiles/0/000", "tile_path_malformed"),
        ("checkpoint", "tile_path_malformed"),
        ("tile/0/" + "x001/" * 100 + "001", "tile_path_malformed"),
    ],
)
def test_malformed_tile_paths_are_refused_with_their_code(path: str, code: str) -> None:
    with pytest.raises(TileError) as exc:
        parse_tile_path(path)
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"level": 64, "index": 0}, "tile_level"),
        ({"level": -1, "index": 0}, "tile_level"),
        ({"level": 0, "index": -1}, "tile_index"),
        ({"level": 0, "index": MAX_TILE_INDEX + 1}, "tile_index"),
        ({"level": 0, "index": 0, "width": 0}, "tile_width"),
        ({"level": 0, "index": 0, "width": 257}, "tile_width"),
        ({"level": True, "index": 0}, "tile_level"),
    ],
)
def test_tiles_are_valid_once_built(kwargs: dict[str, int], code: str) -> None:
    with pytest.raises(TileError) as exc:
        Tile(**kwargs)
    assert exc.value.code == code


# --- which tiles exist -----------------------------------------------------------------------------------------------


def test_spec_example_tree_of_70000_entries() -> None:
    # c2sp.org/tlog-tiles, "Partial Tiles": 273 full level 0 tiles, one partial level 0 tile of width 112, one
    # full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1.
    tiles = list(tiles_for_size(70_000))
    assert tiles[:273] == [Tile(level=0, index=n) for n in range(273)]
    assert tiles[273:] == [
        Tile(level=0, index=273, width=112),
        Tile(level=1, index=0),
        Tile(level=1, index=1, width=17),
        Tile(level=2, index=0, width=1),
    ]


def test_spec_example_tree_of_256_entries() -> None:
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert list(tiles_for_size(256)) == [Tile(level=0, index=0), Tile(level=1, index=0, width=1)]
    assert list(tiles_for_size(0)) == []


def test_spec_start_and_end_indexes() -> None:
    # "The tile's start index is defined to be n * 256**(l+1). Its end index is ... (n + 1) * 256**(l+1)."
    tile = Tile(level=2, index=3)
    assert (tile.start_index, tile.end_index) == (3 * 256**3, 4 * 256**3)
    assert Tile(level=1, index=1, width=17).end_index == 256**2 + 17 * 256


@pytest.mark.parametrize(
    ("old", "new", "count"),
    # golang.org/x/mod/sumdb/tlog tile_test.go TestNewTilesForSize, tiles of height 10.
    [(1, 1, 0), (100, 101, 1), (1023, 1025, 3), (1024, 1030, 1), (1030, 2000, 1), (1030, 10000, 10),
     (49516517, 49516586, 3)],
)
def test_go_new_tiles_vectors_at_height_10(old: int, new: int, count: int) -> None:
    assert len(_new_tiles(10, old, new)) == count


def test_new_tiles_refuses_a_shrinking_tree() -> None:
    with pytest.raises(TileError) as exc:
        new_tiles(10, 9)
    assert exc.value.code == "tile_tree_size"


@given(old=st.integers(0, 300_000), grow=st.integers(0, 300_000))
def test_new_tiles_is_the_set_difference(old: int, grow: int) -> None:
    new = old + grow
    assert set(new_tiles(old, new)) == set(tiles_for_size(new)) - set(tiles_for_size(old))
    assert len(new_tiles(old, new)) == len(set(new_tiles(old, new)))


@given(size=st.integers(0, MAX_TREE_SIZE), level=st.integers(0, 7), index=st.integers(0, 2**60))
def test_tile_width_matches_the_spec_formula(size: int, level: int, index: int) -> None:
    # "The partial tile at level l for a tree of size s has floor(s / 256**l) mod 256 entries."
    hashes = size // 256**level
    full = hashes // 256
    want = 256 if index < full else (hashes % 256 if index == full else 0)
    assert tile_width(level, index, size) == want


def test_entry_bundle_for_index_refuses_entries_outside_the_tree() -> None:
    with pytest.raises(TileError) as exc:
        entry_bundle_for_index(10, 10)
    assert exc.value.code == "tile_node_outside_tree"


# --- nodes in tiles, against a naive RFC 6962 tree ------------------------------------------------------------------

TREE = 70_000


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _mth(hashes: list[bytes]) -> bytes:
    """Merkle Tree Hash of a power-of-two run of node hashes."""
    while len(hashes) > 1:
        hashes = [_node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


@cache
def _levels() -> list[list[bytes]]:
    """Every complete node of a 70,000-leaf tree, level by level (RFC 6962 section 2.1)."""
    levels = [[hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(TREE)]]
    while len(levels[-1]) > 1:
        row = levels[-1]
        levels.append([_node(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)])
    return levels


def _tile_hashes(tile: Tile) -> list[bytes]:
    row = _levels()[8 * tile.level]
    return row[tile.index * 256 : tile.index * 256 + tile.width]


def test_spec_example_tree_tiles_hold_the_right_hashes() -> None:
    # "the n-th tile at level l ... is MTH(D[(n * 256 + i) * 256**l : (n * 256 + i + 1) * 256**l])"
    for tile in tiles_for_size(TREE):
        data = encode_tile(_tile_hashes(tile))
        hashes = decode_tile(data, tile)
        assert len(data) == 32 * tile.width
        if tile.level > 0:
            below = [Tile(level=tile.level - 1, index=tile.index * 256 + i) for i in range(tile.width)]
            assert list(hashes) == [_mth(_tile_hashes(t)) for t in below]


@given(size=st.integers(1, TREE), data=st.data())
def test_every_node_is_found_in_its_tile(size: int, data: st.DataObject) -> None:
    level = data.draw(st.integers(0, size.bit_length() - 1))
    index = data.draw(st.integers(0, (size >> level) - 1))
    where = tile_for_node(level, index, tree_size=size)
    assert where.tile.width == tile_width(where.tile.level, where.tile.index, size)
    assert where.tile in set(tiles_for_size(size))
    assert 0 <= where.start < where.end <= where.tile.width
    assert where.end - where.start == 1 << (level % 8)
    hashes = _tile_hashes(where.tile)
    assert _mth(hashes[where.start : where.end]) == _levels()[level][index]
    # The node spans the same entries as the tile hashes it is made of.
    per_hash = 256**where.tile.level
    assert where.tile.start_index + where.start * per_hash == index << level
    assert where.tile.start_index + where.end * per_hash == (index + 1) << level


def test_tile_for_node_examples() -> None:
    assert tile_for_node(0, 0).tile == Tile(level=0, index=0)
    assert tile_for_node(0, 1234067 * 256 + 5) == tile_for_node(0, 1234067 * 256 + 5, tree_size=MAX_TREE_SIZE)
    where = tile_for_node(0, 1234067 * 256 + 5)
    assert (where.tile.path, where.start, where.end) == ("tile/0/x001/x234/067", 5, 6)
    where = tile_for_node(3, 33, tree_size=300)  # leaves 264..271, in level-0 tile 1 of width 44
    assert (where.tile, where.start, where.end) == (Tile(level=0, index=1, width=44), 8, 16)
    where = tile_for_node(8, 0, tree_size=256)  # the root of a full tile is the first hash of level 1
    assert (where.tile, where.start, where.end) == (Tile(level=1, index=0, width=1), 0, 1)
    where = tile_for_node(63, 0)
    assert (where.tile.level, where.tile.index, where.start, where.end) == (7, 0, 0, 128)


def test_tile_for_node_refuses_incomplete_nodes() -> None:
    with pytest.raises(TileError) as exc:
        tile_for_node(1, 2, tree_size=5)  # leaves 4 and 5; the tree has 0..4
    assert exc.value.code == "tile_node_outside_tree"
    with pytest.raises(TileError) as exc:
        tile_for_node(64, 0)
    assert exc.value.code == "tile_level"
    with pytest.raises(TileError) as exc:
        tile_for_node(63, 1)
    assert exc.value.code == "tile_index"


# --- contents --------------------------------------------------------------------------------------------------------


def test_tile_data_refusals() -> None:
    with pytest.raises(TileError) as exc:
        decode_tile(bytes(32 * 255), Tile(level=0, index=0))
    assert exc.value.code == "tile_data_size"
    with pytest.raises(TileError) as exc:
        encode_tile([])
    assert exc.value.code == "tile_data_size"
    with pytest.raises(TileError) as exc:
        encode_tile([bytes(32)] * 257)
    assert exc.value.code == "tile_data_size"
    with pytest.raises(TileError) as exc:
        encode_tile([bytes(31)])
    assert exc.value.code == "tile_data_size"
    assert len(encode_tile([bytes(32)] * TILE_WIDTH)) == 8192  # "Full tiles MUST be exactly ... 8,192 bytes"


def test_entry_bundle_layout() -> None:
    # "Entry bundles are sequences of big-endian uint16 length-prefixed log entries."
    assert encode_entry_bundle([b"ab", b"", b"\xff" * 300]) == b"\x00\x02ab\x00\x00\x01\x2c" + b"\xff" * 300
    assert decode_entry_bundle(b"\x00\x02ab\x00\x00") == (b"ab", b"")
    assert decode_entry_bundle(b"\x00\x01z", EntryBundle(index=0, width=1)) == (b"z",)


@pytest.mark.parametrize(
    ("data", "bundle", "code"),
    [
        (b"", None, "entry_bundle_size"),
        (b"\x00", None, "entry_bundle_truncated"),
        (b"\x00\x03ab", None, "entry_bundle_truncated"),
        (b"\x00\x01a\x00", None, "entry_bundle_truncated"),
        (b"\x00\x00" * 257, None, "entry_bundle_size"),
        (b"\x00\x01a", EntryBundle(index=0, width=2), "entry_bundle_size"),
        (b"\x00\x01a" * 3, EntryBundle(index=0), "entry_bundle_size"),
    ],
)
def test_malformed_entry_bundles_are_refused(data: bytes, bundle: EntryBundle | None, code: str) -> None:
    with pytest.raises(TileError) as exc:
        decode_entry_bundle(data, bundle)
    assert exc.value.code == code


def test_entry_bundle_encoding_refusals() -> None:
    with pytest.raises(TileError) as exc:
        encode_entry_bundle([b"x" * 65536])
    assert exc.value.code == "entry_bundle_entry"
    with pytest.raises(TileError) as exc:
        encode_entry_bundle([])
    assert exc.value.code == "entry_bundle_size"
    with pytest.raises(TileError) as exc:
        encode_entry_bundle([b""] * 257)
    assert exc.value.code == "entry_bundle_size"
    assert len(encode_entry_bundle([b"x" * 65535])) == 65537


# --- properties -------------------------------------------------------------------------------------------------------

widths = st.integers(1, TILE_WIDTH)
indexes = st.integers(0, MAX_TILE_INDEX)


@given(level=st.integers(0, 63), index=indexes, width=widths)
def test_tile_path_round_trips(level: int, index: int, width: int) -> None:
    tile = Tile(level=level, index=index, width=width)
    assert parse_tile_path(tile.path) == tile
    assert tile.path.endswith(f".p/{width}") == (width < 256) == tile.partial


@given(index=indexes, width=widths)
def test_entry_bundle_path_round_trips(index: int, width: int) -> None:
    bundle = EntryBundle(index=index, width=width)
    assert parse_tile_path(bundle.path) == bundle


@given(st.lists(st.binary(max_size=2000), min_size=1, max_size=256))
def test_entry_bundle_round_trips(entries: list[bytes]) -> None:
    data = encode_entry_bundle(entries)
    assert decode_entry_bundle(data, EntryBundle(index=0, width=len(entries))) == tuple(entries)
