"""``hanoinet ... --help`` printed from a cache, so that asking for help answers at once.

Rendering help takes Typer and rich a third of a second, mostly imports, every time. The first time a help
text is asked for in a given terminal, Typer renders it as usual and what it printed is kept; afterwards the
same request prints the kept text without importing Typer. A kept text is found by a key made of everything
the rendering depends on: the words of the command and the program's name, the sources of hanoinet, Typer
and rich (their versions and any edit), and the terminal (whether it is one, its size, its encoding, the
environment variables rich and Typer read). Anything else is rendered afresh. The cache lives in
``$HANOINET_CACHE`` (default ``$XDG_CACHE_HOME/hanoinet`` or ``~/.cache/hanoinet``); it can be deleted at
any time, and a cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

#: Command words: nothing that could be an option, a value or a path.
_WORD = re.compile(r"[a-z][a-z0-9-]{0,30}")
#: Environment variables that change how rich or Typer render (rich.console.Console, typer.rich_utils).
_RENDERING_ENVIRONMENT = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
                          "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES", "TERMINAL_WIDTH", "PY_COLORS",
                          "GITHUB_ACTIONS", "DATABRICKS_RUNTIME_VERSION")
#: What a kept text may hold besides printable characters: line ends and Rich's colours (SGR sequences).
_PRINTABLE = re.compile(r"(?:[^\x00-\x1f\x7f]|\n|\x1b\[[0-9;]*m)*")
#: Kept texts beyond this number are removed, oldest first.
_KEPT = 200
_PACKAGE = Path(__file__).resolve().parent.parent


def folder() -> Path:
    """Where help texts are kept."""
    given = os.environ.get("HANOINET_CACHE")
    if given:
        return Path(given) / "help"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hanoinet" / "help"


def key(args: list[str]) -> str | None:
    """The key of the help text ``hanoinet ARGS`` prints; None when ARGS is not a plain request for help."""
    if not args or args[-1] != "--help" or len(args) > 4 or not all(_WORD.fullmatch(w) for w in args[:-1]):
        return None
    if sys.stdout is None:  # no output to print to: nothing to keep either
        return None
    digest = hashlib.sha256()
    # The program's name is in the usage line ("hanoinet", or "python -m hanoinet").
    for part in (sys.argv[0], *args, *_sources(), *_terminal()):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()[:40]


def replay(args: list[str]) -> bool:
    """Print the kept help text for ARGS and say True; False when there is none to print."""
    found = key(args)
    if found is None:
        return False
    where = _own_folder(create=False)
    if where is None:
        return False
    try:
        descriptor = os.open(where / f"{found}.txt", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    with open(descriptor, "rb") as kept:
        if not _owned_by_me(os.fstat(kept.fileno())):
            return False
        try:
            text = kept.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return False
    if not _PRINTABLE.fullmatch(text):  # never replay other escape sequences (titles, clipboard) to a terminal
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def record(args: list[str], render: Callable[[], None]) -> None:
    """Run ``render`` (the whole command line) and, when it printed the help for ARGS and ended well, keep it."""
    found = key(args)
    if found is None:
        render()
        return
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    status: object = 0
    try:
        render()
    except SystemExit as exit_:
        status = exit_.code
        raise
    finally:
        sys.stdout = tee.inner
        if status in (0, None) and tee.written:
            _keep(found, "".join(tee.written))


def _keep(found: str, text: str) -> None:
    where = _own_folder(create=True)
    if where is None:
        return  # a cache that cannot be used safely is not used; the help was printed all the same
    try:
        descriptor, draft = tempfile.mkstemp(dir=where, prefix=f".{found}.")
        with open(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(draft, where / f"{found}.txt")
        kept = sorted(where.glob("*.txt"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-_KEPT]:
            old.unlink(missing_ok=True)
    except OSError:
        return


def _own_folder(*, create: bool) -> Path | None:
    """The cache folder, if it is safe to use: a real folder of this user that nobody else may write to.

    A folder another user can write to could hold texts printed as this program's help, or links that turn a
    write of the cache into a write elsewhere.
    """
    where = folder()
    if create:
        try:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return None
    try:
        status = os.lstat(where)
    except OSError:
        return None
    if not stat.S_ISDIR(status.st_mode) or not _owned_by_me(status) or status.st_mode & 0o022:
        return None
    return where


def _owned_by_me(status: os.stat_result) -> bool:
    return not hasattr(os, "geteuid") or status.st_uid == os.geteuid()


def _sources() -> list[str]:
    """Names, sizes, inodes and times of the Python sources of hanoinet, Typer and rich."""
    found: list[str] = []
    roots = [_PACKAGE, *(_installed(name) for name in ("typer", "rich"))]
    for root in roots:
        if root is None:
            found.append("?")
            continue
        pending = [str(root)]
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            pending.append(entry.path)
                    elif entry.name.endswith(".py"):
                        # Inode and change time too: a copy that keeps sizes and times (cp -p, tar) is still new.
                        seen = entry.stat()
                        found.append(f"{entry.path}:{seen.st_size}:{seen.st_mtime_ns}:{seen.st_ctime_ns}:{seen.st_ino}")
    return sorted(found)


def _installed(name: str) -> Path | None:
    """The folder of the package ``name`` that an import would find, without importing it."""
    for entry in sys.path:
        candidate = Path(entry or ".") / name
        if (candidate / "__init__.py").is_file():
            return candidate
    return None


def _terminal() -> list[str]:
    """What rich sees of the terminal it prints help to."""
    seen = [f"tty={sys.stdout.isatty()}", f"encoding={getattr(sys.stdout, 'encoding', '')}"]
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd)
            seen.append(f"size{fd}={size.columns}x{size.lines}")
        except (OSError, ValueError):
            seen.append(f"size{fd}=-")
    for name in sorted(os.environ):
        if name in _RENDERING_ENVIRONMENT or name.startswith(("TYPER_", "_TYPER_", "RICH_")):
            seen.append(f"{name}={os.environ[name]}")
    return seen


class _Tee:
    """Stands for stdout while help is rendered: passes everything on, and keeps a copy of what is written.

    What is written to its binary ``buffer`` (Click writes there) is kept too, decoded as stdout would.
    """

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.written: list[str] = []
        self.buffer = _BinaryTee(self)

    def write(self, text: str) -> int:
        written = self.inner.write(text)  # raises for what stdout refuses (Click probes it with bytes)
        self.written.append(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _BinaryTee:
    """The ``buffer`` of a :class:`_Tee`."""

    def __init__(self, tee: _Tee) -> None:
        self.tee = tee

    def write(self, data: bytes) -> int:
        self.tee.inner.flush()  # what went through the text layer comes first, as it would have
        written: int = self.tee.inner.buffer.write(data)
        self.tee.written.append(bytes(data).decode(self.tee.inner.encoding or "utf-8", "replace"))
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tee.inner.buffer, name)
