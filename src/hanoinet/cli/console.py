"""What every command prints with: the two consoles, errors a person can act on, times, JSON.

Imports neither Typer nor anything of the node, so that the commands that must start at once
(``hanoinet verify``, hanoinet.cli.start) can print exactly as the others do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from rich.console import Console
from rich.markup import escape

from hanoinet.errors import ConfigurationError, HanoinetError, ValidationError

if TYPE_CHECKING:
    from hanoinet.clock import Precision

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(error: HanoinetError) -> NoReturn:
    """Print a domain error the way a person can act on it, and exit 2."""
    # Messages quote what was given (file names, values), which may hold Rich markup: escaped.
    err.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False)
    if error.hint:
        err.print(f"  [bold]what to do:[/] {escape(error.hint)}")
    raise SystemExit(2)


def when(instant: str | datetime | None, zone: tzinfo = UTC, *, precision: Precision = "minute",
         sep: str = " · ") -> str:
    """An instant (the API's protocol text, or a datetime) as people read it (clock.show_instant); "" for none."""
    from hanoinet.clock import parse_instant, show_instant

    if instant is None or instant == "":
        return ""
    t = parse_instant(instant) if isinstance(instant, str) else instant
    return show_instant(t, zone, precision=precision, sep=sep)


def print_json(value: Any) -> None:
    """JSON on stdout, for scripts."""
    out.print_json(json.dumps(value, ensure_ascii=False))


def guarded(command: Callable[[], T]) -> T:
    """Run a command, turning every error a person can act on into a message and exit status 2."""
    try:
        return command()
    except HanoinetError as exc:
        fail(exc)
    except OSError as exc:
        # A file or folder named on the command line could not be read or written.
        fail(ConfigurationError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
                                hint="check the path and its permissions"))
    except ValueError as exc:
        # Models built from command-line options (desks, cards) check themselves; say which value is wrong.
        # pydantic is imported only by the commands that build models, so it is looked up, not imported.
        pydantic = sys.modules.get("pydantic")
        if pydantic is None or not isinstance(exc, pydantic.ValidationError):
            raise
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        fail(ValidationError(f"invalid {exc.title}: {problems}", hint="correct the option and run the command again"))
