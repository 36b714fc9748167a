"""C2SP tiled transparency logs (c2sp.org/tlog-tiles): tile coordinates, paths, tile data and entry bundles.

The ledger's Merkle tree (RFC 6962 hashing) is published as static *tiles*: a tile at level ``L`` and index
``N`` is the run of up to 256 consecutive hashes at tree level ``8L``, served at ``tile/<L>/<N>``. The
rightmost tile of each level is usually *partial*, ``tile/<L>/<N>.p/<W>`` with ``W`` in 1..255 hashes. The
entries themselves are served as *entry bundles* at ``tile/entries/<N>[.p/<W>]``, each entry prefixed with its
length as a big-endian uint16.

``N`` is written in groups of three digits, every group but the last prefixed with ``x``: index 1234067 is
``x001/x234/067`` (so a file system never has a file and a directory of the same name).

Pure code: this module says which tile holds which hash and checks the encodings; reading, writing and
hashing are left to the callers (the Merkle module combines the hashes of a tile).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from hanoinet.errors import ValidationError
from hanoinet.ledger import merkle

#: Tile height: each tile is a subtree of height 8 (c2sp.org/tlog-tiles, "Merkle Tree").
TILE_HEIGHT = 8
#: Hashes in a full tile, and entries in a full bundle.
TILE_WIDTH = 1 << TILE_HEIGHT
#: SHA-256 hashes (the spec fixes the hash to SHA-256).
HASH_SIZE = 32
#: "<L> ... MUST be a decimal ASCII integer between 0 and 63" (c2sp.org/tlog-tiles, "Merkle Tree").
MAX_TILE_LEVEL = 63
#: Largest tree size handled: an unsigned 64-bit integer, as RFC 6962's ``tree_size``.
MAX_TREE_SIZE = 2**64 - 1
#: Largest tile index accepted in a path: indexes are unsigned 64-bit integers in the Go implementations
#: (transparency-dev/tessera ``ParseTileIndexPartial``), so at most 7 digit groups.
MAX_TILE_INDEX = 2**64 - 1
#: Largest entry in a bundle: its length prefix is a uint16 (c2sp.org/tlog-tiles, "Log entries").
MAX_ENTRY_SIZE = 0xFFFF

_LEVEL = re.compile(r"0|[1-9][0-9]?", re.ASCII)
_WIDTH = re.compile(r"[1-9][0-9]{0,2}", re.ASCII)
_GROUP = re.compile(r"x[0-9]{3}", re.ASCII)
_LAST_GROUP = re.compile(r"[0-9]{3}", re.ASCII)


class TileError(ValidationError):
    """A tile path, tile coordinate, tile data or entry bundle is malformed; ``code`` says which."""

    code = "tile_invalid"


def _check_int(value: object, low: int, high: int, what: str, code: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TileError(f"{what} {value!r} is not an integer in {low}..{high}", code=code)
    return value


# --- the <N> path element ----------------------------------------------------------------------------------------


def format_tile_index(index: int) -> str:
    """``<N>`` of a tile path: zero-padded 3-digit groups, all but the last prefixed with ``x``.

    ``format_tile_index(1234067) == "x001/x234/067"`` (the example of c2sp.org/tlog-tiles).
    Precondition: ``0 <= index <= 2^64-1``.
    """
    _check_int(index, 0, MAX_TILE_INDEX, "tile index", "tile_index")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index > 0:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_index(text: str) -> int:
    """Parse ``<N>``; refuses [``tile_path_index``] anything :func:`format_tile_index` would not write.

    That includes a missing or extra ``x``, groups of other than three digits, and leading zero groups
    (``x000/001`` for ``001``).
    """
    problem = TileError(f"{text[:80]!r} is not a tile index like 'x001/x234/067'", code="tile_path_index")
    groups = text.split("/")
    if len(groups) > 7 or not _LAST_GROUP.fullmatch(groups[-1]):
        raise problem
    if not all(_GROUP.fullmatch(g) for g in groups[:-1]):
        raise problem
    value = int("".join(g.lstrip("x") for g in groups))
    if value > MAX_TILE_INDEX or format_tile_index(value) != text:
        raise problem
    return value


# --- tiles and entry bundles -------------------------------------------------------------------------------------


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tile:
    """A Merkle tree tile: ``level`` 0..63, ``index`` within the level, ``width`` 1..256 hashes (256 = full).

    Its hashes are those at tree level ``8 * level``, positions ``index * 256`` to ``index * 256 + width - 1``.
    """

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_int(self.level, 0, MAX_TILE_LEVEL, "tile level", "tile_level")
        _check_int(self.index, 0, MAX_TILE_INDEX, "tile index", "tile_index")
        _check_int(self.width, 1, TILE_WIDTH, "tile width", "tile_width")

    @property
    def partial(self) -> bool:
        """Whether this tile has fewer than 256 hashes."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]``, relative to the log's URL prefix."""
        return f"tile/{self.level}/{format_tile_index(self.index)}{_suffix(self.width)}"

    @property
    def start_index(self) -> int:
        """The first log entry the tile's hashes span: ``index * 256**(level+1)``."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def end_index(self) -> int:
        """One past the last entry spanned: ``(index + 1) * 256**(level+1)`` for a full tile."""
        return self.start_index + (self.width << (TILE_HEIGHT * self.level))


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryBundle:
    """The address of an entry bundle: ``index`` and ``width`` 1..256 entries (256 = full)."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_int(self.index, 0, MAX_TILE_INDEX, "entry bundle index", "tile_index")
        _check_int(self.width, 1, TILE_WIDTH, "entry bundle width", "tile_width")

    @property
    def partial(self) -> bool:
        """Whether this bundle has fewer than 256 entries."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/entries/<N>[.p/<W>]``, relative to the log's URL prefix."""
        return f"tile/entries/{format_tile_index(self.index)}{_suffix(self.width)}"

    @property
    def start_index(self) -> int:
        """The first entry in the bundle."""
        return self.index * TILE_WIDTH

    @property
    def end_index(self) -> int:
        """One past the last entry in the bundle."""
        return self.start_index + self.width


def parse_tile_path(path: str) -> Tile | EntryBundle:
    """Parse ``tile/<L>/<N>[.p/<W>]`` into a :class:`Tile`, or ``tile/entries/<N>[.p/<W>]`` into an
    :class:`EntryBundle`, refusing every form the spec does not write.

    Codes: ``tile_path_malformed`` (not under ``tile/``), ``tile_path_level`` (not 0..63 in decimal without
    leading zeros), ``tile_path_index`` (see :func:`parse_tile_index`), ``tile_path_width`` (``W`` not 1..255
    in decimal without leading zeros; a full tile carries no ``.p/``).
    """
    if not isinstance(path, str) or not path.startswith("tile/") or len(path) > 200:
        raise TileError(f"{str(path)[:80]!r} is not a tile path 'tile/<L>/<N>[.p/<W>]'", code="tile_path_malformed")
    kind, _, rest = path[len("tile/") :].partition("/")
    width = TILE_WIDTH
    index_text = rest
    if "/" in rest:
        head, _, last = rest.rpartition("/")
        if head.endswith(".p"):
            # "<W> is the width of the tile, a decimal ASCII integer between 1 and 255, with no additional
            # leading zeroes."
            if not _WIDTH.fullmatch(last) or int(last) >= TILE_WIDTH:
                raise TileError(f"tile width {last!r} in {path!r} is not 1..255", code="tile_path_width")
            width, index_text = int(last), head[: -len(".p")]
    index = parse_tile_index(index_text)
    if kind == "entries":
        return EntryBundle(index=index, width=width)
    if not _LEVEL.fullmatch(kind) or int(kind) > MAX_TILE_LEVEL:
        raise TileError(f"tile level {kind!r} in {path!r} is not 0..63", code="tile_path_level")
    return Tile(level=int(kind), index=index, width=width)


# --- which tiles exist ---------------------------------------------------------------------------------------------


def _check_size(tree_size: int) -> int:
    return _check_int(tree_size, 0, MAX_TREE_SIZE, "tree size", "tile_tree_size")


def tile_width(level: int, index: int, tree_size: int) -> int:
    """How many hashes tile (``level``, ``index``) holds in a tree of ``tree_size`` entries: 0 if it does not
    exist yet, 256 if full, else its partial width.

    c2sp.org/tlog-tiles, "Partial Tiles": "The partial tile at level l for a tree of size s has
    floor(s / 256**l) mod 256 entries."
    """
    _check_int(level, 0, MAX_TILE_LEVEL, "tile level", "tile_level")
    _check_int(index, 0, MAX_TILE_INDEX, "tile index", "tile_index")
    hashes = (_check_size(tree_size) >> (TILE_HEIGHT * level)) - index * TILE_WIDTH
    return max(0, min(hashes, TILE_WIDTH))


def tiles_for_size(tree_size: int) -> Iterator[Tile]:
    """Every tile a log of ``tree_size`` entries serves, level by level, full tiles then the partial one.

    For 70,000 entries: 273 full level-0 tiles, a level-0 tile of width 112, one full level-1 tile, a level-1
    tile of width 17 and a level-2 tile of width 1 (the example of c2sp.org/tlog-tiles). An empty tree has
    no tiles ("Empty tiles MUST NOT be served").
    """
    return _tiles(TILE_HEIGHT, _check_size(tree_size))


def _tiles(height: int, tree_size: int) -> Iterator[Tile]:
    level = 0
    while (hashes := tree_size >> (height * level)) > 0:
        full, rest = divmod(hashes, 1 << height)
        for n in range(full):
            yield Tile(level=level, index=n)
        if rest:
            yield Tile(level=level, index=full, width=rest)
        level += 1


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles to write when the log grows from ``old_size`` to ``new_size`` entries: those that exist at
    ``new_size`` and did not exist, with the same width, at ``old_size``.

    Equals the set difference of :func:`tiles_for_size`, computed without listing old tiles; the counts agree
    with golang.org/x/mod/sumdb/tlog ``NewTiles``. Precondition: ``0 <= old_size <= new_size``.
    """
    _check_size(old_size)
    _check_size(new_size)
    if old_size > new_size:
        raise TileError(f"the tree cannot shrink from {old_size} to {new_size} entries", code="tile_tree_size")
    return [Tile(level=lv, index=n, width=w) for lv, n, w in _new_tiles(TILE_HEIGHT, old_size, new_size)]


def _new_tiles(height: int, old_size: int, new_size: int) -> list[tuple[int, int, int]]:
    """(level, index, width) of the new tiles for any tile height (the spec fixes 8; Go's tests use 10)."""
    out: list[tuple[int, int, int]] = []
    level = 0
    while (new_hashes := new_size >> (height * level)) > 0:
        old_hashes = old_size >> (height * level)
        for n in range(old_hashes >> height, new_hashes >> height):
            out.append((level, n, 1 << height))
        n = new_hashes >> height
        width = new_hashes - (n << height)
        old_width = old_hashes - (n << height)
        if width > 0 and width != old_width:
            out.append((level, n, width))
        level += 1
    return out


def entry_bundle_for_index(entry_index: int, tree_size: int) -> EntryBundle:
    """The entry bundle holding entry ``entry_index`` in a tree of ``tree_size`` entries (partial if need be).

    Precondition: ``entry_index < tree_size``.
    """
    _check_size(tree_size)
    _check_int(entry_index, 0, tree_size - 1, "entry index", "tile_node_outside_tree")
    n = entry_index // TILE_WIDTH
    return EntryBundle(index=n, width=min(TILE_WIDTH, tree_size - n * TILE_WIDTH))


@dataclass(frozen=True, slots=True)
class NodeInTile:
    """Where a Merkle tree node lives: ``tile``, and the hashes ``[start, end)`` of the tile it covers.

    When ``end - start == 1`` the node's hash is stored in the tile at position ``start``; otherwise the node
    is the Merkle Tree Hash of those ``end - start`` (a power of two) tile hashes.
    """

    tile: Tile
    start: int
    end: int


def tile_for_node(level: int, index: int, *, tree_size: int | None = None) -> NodeInTile:
    """Locate the node at tree ``level`` (0 = leaves) and ``index`` (0 = leftmost) in the tiles.

    The node is in tile level ``level // 8``; it spans ``2 ** (level % 8)`` hashes of that tile's bottom row.
    With ``tree_size`` the tile is given the width it has in that tree (partial if need be), and a node not
    complete in that tree is refused [``tile_node_outside_tree``]; without it the tile is the full one.

    Preconditions: ``0 <= level <= 63`` and ``(index + 1) * 2**level <= 2^64 - 1``.
    """
    _check_int(level, 0, MAX_TILE_LEVEL, "node level", "tile_level")
    _check_int(index, 0, (MAX_TREE_SIZE >> level) - 1, "node index", "tile_index")
    tile_level, k = divmod(level, TILE_HEIGHT)
    per_tile = TILE_WIDTH >> k  # nodes of this level under one tile
    tile_index, position = divmod(index, per_tile)
    start, end = position << k, (position + 1) << k
    width = TILE_WIDTH
    if tree_size is not None:
        if (index + 1) << level > _check_size(tree_size):
            raise TileError(f"node ({level}, {index}) is not complete in a tree of {tree_size} entries",
                            code="tile_node_outside_tree")
        width = tile_width(tile_level, tile_index, tree_size)
    return NodeInTile(Tile(level=tile_level, index=tile_index, width=width), start, end)


# --- contents ------------------------------------------------------------------------------------------------------


def encode_tile(hashes: Sequence[bytes]) -> bytes:
    """Tile data: the concatenated 32-byte hashes (1..256 of them).

    c2sp.org/tlog-tiles: "Full tiles MUST be exactly 256 hashes wide, or 8,192 bytes".
    """
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise TileError(f"a tile holds 1..256 hashes, not {len(hashes)}", code="tile_data_size")
    if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in hashes):
        raise TileError("every tile hash is 32 bytes (SHA-256)", code="tile_data_size")
    return b"".join(hashes)


def decode_tile(data: bytes, tile: Tile) -> tuple[bytes, ...]:
    """Split tile data into its hashes, refusing [``tile_data_size``] data that is not ``tile.width`` hashes."""
    if len(data) != tile.width * HASH_SIZE:
        raise TileError(f"tile {tile.path} should be {tile.width * HASH_SIZE} bytes, got {len(data)}",
                        hint="the tile was truncated or belongs to another tree size", code="tile_data_size")
    return tuple(bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE))


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length then its bytes (1..256 entries, each at most
    65,535 bytes; c2sp.org/tlog-tiles, "Log entries")."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1..256 entries, not {len(entries)}", code="entry_bundle_size")
    out = bytearray()
    for i, entry in enumerate(entries):
        if not isinstance(entry, bytes):
            raise TileError(f"entry {i} is not bytes", code="entry_bundle_entry")
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {i} is {len(entry)} bytes; a bundle entry is at most 65,535",
                            hint="store a hash or reference of large records in the log instead",
                            code="entry_bundle_entry")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes, bundle: EntryBundle | None = None) -> tuple[bytes, ...]:
    """Split an entry bundle into entries.

    Refuses [``entry_bundle_truncated``] a length prefix or entry cut short, [``entry_bundle_size``] no entry,
    more than 256, or (given ``bundle``) a count other than ``bundle.width``.
    """
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TileError(f"entry bundle cut inside a length prefix at byte {pos}", code="entry_bundle_truncated")
        size = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + size > len(data):
            raise TileError(f"entry {len(entries)} needs {size} bytes but the bundle ends first",
                            code="entry_bundle_truncated")
        entries.append(bytes(data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
        if len(entries) > TILE_WIDTH:
            raise TileError("an entry bundle holds at most 256 entries", code="entry_bundle_size")
    if not entries:
        raise TileError("an entry bundle holds at least one entry", code="entry_bundle_size")
    if bundle is not None and len(entries) != bundle.width:
        raise TileError(f"bundle {bundle.path} should hold {bundle.width} entries, got {len(entries)}",
                        code="entry_bundle_size")
    return tuple(entries)


def tile_node_source(tree_size: int, read_hashes: Callable[[Tile], Sequence[bytes]]) -> Callable[[int, int], bytes]:
    """``get_node(level, index)`` for the proof core, answered from the tiles of a tree of ``tree_size``.

    ``read_hashes(tile)`` returns the hashes of ``tile`` at the width it has in that tree (from storage, or
    fetched and decoded); each tile is read once. Nodes between tile levels are hashed from the tile's row.
    """
    cache: dict[tuple[int, int], Sequence[bytes]] = {}

    def get_node(level: int, index: int) -> bytes:
        where = tile_for_node(level, index, tree_size=tree_size)
        key = (where.tile.level, where.tile.index)
        if key not in cache:
            cache[key] = read_hashes(where.tile)
        hashes = cache[key][where.start : where.end]
        return hashes[0] if len(hashes) == 1 else merkle.root(hashes)

    return get_node
