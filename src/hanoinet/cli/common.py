"""What every command group shares: printing, error handling, passphrases, the officer's API client."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Column

from hanoinet.cli.console import err
from hanoinet.errors import ConfigurationError, HanoinetError, TransportError, ValidationError

if TYPE_CHECKING:
    from hanoinet.db.database import Database, UnitOfWork

DataOption = typer.Option(..., "--data", "-d", envvar="HANOINET_DATA", help="the node's data directory")
CLI_CONFIG = Path(os.environ.get("HANOINET_CLI_CONFIG", "~/.config/hanoinet/cli.toml")).expanduser()


def passphrase_for_new_keys(insecure: bool) -> bytes | None:
    """The passphrase to encrypt new keys with: environment, file, or an interactive prompt (twice)."""
    if insecure:
        err.print("[bold yellow]warning:[/] private keys will be stored UNENCRYPTED (--insecure-plaintext-keys); "
                  "use this for demonstrations only")
        return None
    given = passphrase_from_environment()
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise ConfigurationError(
            "no passphrase to encrypt the node's private keys",
            hint="set HANOINET_KEY_PASSPHRASE or HANOINET_KEY_PASSPHRASE_FILE, run interactively, or pass "
            "--insecure-plaintext-keys for a demonstration",
        )
    value = typer.prompt("Passphrase for the node's private keys", hide_input=True, confirmation_prompt=True)
    return str(value).encode()


def passphrase_from_environment() -> bytes | None:
    """``HANOINET_KEY_PASSPHRASE`` or the content of ``HANOINET_KEY_PASSPHRASE_FILE``."""
    if os.environ.get("HANOINET_KEY_PASSPHRASE"):
        return os.environ["HANOINET_KEY_PASSPHRASE"].encode()
    path = os.environ.get("HANOINET_KEY_PASSPHRASE_FILE")
    if path:
        try:
            return Path(path).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot read HANOINET_KEY_PASSPHRASE_FILE: {exc}") from None
    return None


def passphrase_for_existing_keys(encrypted: bool) -> bytes | None:
    """The passphrase to open existing keys, prompting once if needed and possible."""
    given = passphrase_from_environment()
    if given is not None or not encrypted:
        return given
    if not sys.stdin.isatty():
        raise ConfigurationError("the node's keys are encrypted and no passphrase was given",
                                 hint="set HANOINET_KEY_PASSPHRASE or HANOINET_KEY_PASSPHRASE_FILE")
    return str(typer.prompt("Passphrase for the node's private keys", hide_input=True)).encode()


def open_database(data: Path) -> Database:
    """The database of the node in ``data``, migrated; for operator commands that need no keys."""
    # Imported here, not at the top: the ORM and alembic take most of a second to import, and `--help`,
    # `verify` and the API client commands never need them.
    from hanoinet.db.database import Database
    from hanoinet.node.settings import load_settings

    settings = load_settings(data)
    database = Database(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    database.migrate()
    return database


@contextmanager
def transaction(data: Path, *, readonly: bool = False) -> Iterator[UnitOfWork]:
    """One transaction on the database of the node in ``data`` (:func:`open_database`), closed afterwards."""
    database = open_database(data)
    try:
        with database.transaction(readonly=readonly) as uow:
            yield uow
    finally:
        database.dispose()


def node_zone(data: Path) -> tzinfo:
    """The time zone the node in ``data`` shows its own records in (NodeSettings.display_zone)."""
    from hanoinet.clock import time_zone
    from hanoinet.node.settings import load_settings

    return time_zone(load_settings(data).display_zone())


def time_column(header: str) -> Column:
    """A table column for :func:`when` with ``sep="\\n"``: folded rather than cut when narrow, so no digit of a
    time is ever hidden behind an ellipsis."""
    return Column(header, overflow="fold")


def program() -> str:
    """How to run this program again from the current folder, for commands printed to be copied.

    The ``hanoinet`` script that is running, as it was named (``.venv/bin/hanoinet`` after ``make demo``), or
    plain ``hanoinet`` when that is the one on the PATH; else ``python -m hanoinet`` with this interpreter.
    """
    script = Path(sys.argv[0])
    if script.name == "hanoinet" and script.is_file():
        on_path = shutil.which("hanoinet")
        return "hanoinet" if on_path and Path(on_path).resolve() == script.resolve() else shlex.quote(str(script))
    interpreter = Path(sys.executable)
    if interpreter.is_relative_to(Path.cwd()):
        interpreter = interpreter.relative_to(Path.cwd())
    return f"{shlex.quote(str(interpreter))} -m hanoinet"


class ApiClient:
    """The officer's client of a running node's ``/api/v1`` (never the database directly)."""

    def __init__(self, node: str | None, token: str | None) -> None:
        config: dict[str, Any] = {}
        if CLI_CONFIG.exists():
            try:
                config = tomllib.loads(CLI_CONFIG.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"{CLI_CONFIG} is not valid TOML: {exc}") from None
        self.base = (node or os.environ.get("HANOINET_NODE") or config.get("node") or "").rstrip("/")
        self.token = token or os.environ.get("HANOINET_TOKEN") or config.get("token")
        self._zone: tzinfo | None = None
        if not self.base:
            raise ConfigurationError("which node? no node URL given",
                                     hint=f"pass --node URL, set HANOINET_NODE, or set node in {CLI_CONFIG}")
        if not self.token:
            raise ConfigurationError("no API token given",
                                     hint=f"set HANOINET_TOKEN or write token = \"...\" in {CLI_CONFIG}")

    def zone(self) -> tzinfo:
        """The time zone of the officer's desk, in which times are shown (UTC if this machine lacks it)."""
        from hanoinet.clock import time_zone

        if self._zone is None:
            self._zone = time_zone(str(self.call("GET", "/api/v1/me").get("timezone") or "UTC"))
        return self._zone

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API; problem documents become :class:`HanoinetError` with their code and hint."""
        import httpx  # only the commands that talk to a node pay for importing it

        from hanoinet import text

        # The node's own rule, checked before sending: a byte of the command line that is not UTF-8 reaches
        # Python as a lone surrogate, which no JSON encoder can send (docs/operations.md, "Text and numbers").
        if "json" in kwargs:
            text.check_value(kwargs["json"])
        for name, value in (kwargs.get("params") or {}).items():
            if isinstance(value, str):
                text.check_line(value, f"--{name.replace('_', '-')}")
        try:
            response = httpx.request(method, self.base + path, timeout=30,
                                     headers={"authorization": f"Bearer {self.token}"}, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach the node at {self.base}: {exc}",
                                 hint="is `hanoinet serve` running there? check --node") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = None
            if isinstance(problem, dict):
                error = HanoinetError(_detail(problem), hint=str(problem.get("hint", "")),
                                      code=str(problem.get("code")))
            else:
                error = HanoinetError(f"the node answered {response.status_code}: {response.text[:300]}")
            raise error
        return response.json()


def _detail(problem: dict[str, Any]) -> str:
    """The problem's detail; a list of problems (a draft checked against the Convention) one per line."""
    listed = problem.get("problems")
    if not isinstance(listed, list) or not listed:
        return str(problem.get("detail"))
    lines = [f"{len(listed)} problem(s):"]
    for p in listed:
        article = f" (Art. {p.get('article')})" if p.get("article") else ""
        lines.append(f"  - {p.get('field') or 'request'}{article}: {p.get('message')}; {p.get('fix')}")
    return "\n".join(lines)


NodeUrlOption = typer.Option(None, "--node", help="URL of the running node (or HANOINET_NODE)")
TokenOption = typer.Option(None, "--token", help="API token (better: HANOINET_TOKEN)")


#: How a person running a command on the data directory is named with --actor: ``role:name`` (operator:jdupont,
#: advocate:hotline), but never as an API account (officer:N), a peer State (peer:XXX) or the node itself.
_OPERATOR = re.compile(r"^(?!officer:|peer:|platform:)[a-z]{2,20}:[A-Za-z0-9._@-]{1,80}$")


def operator_actor(given: str | None) -> str:
    """Who runs a command on the node's data directory, as the custody and access logs record it.

    Default ``operator:<login name>``. A given ``--actor`` is ``role:name`` too, and never ``officer:N``,
    ``peer:STATE`` or ``platform:N``: those are accounts and States the node records for itself, which a
    command run on the data directory cannot speak for.
    """
    if given is None:
        return f"operator:{getpass.getuser()}"
    if not _OPERATOR.fullmatch(given):
        raise ValidationError(f"--actor {given!r} is not an operator's name",
                              hint="write ROLE:NAME in letters, digits and . _ @ -, e.g. operator:jdupont; "
                                   "officers act through the API with their own token")
    return given
