"""``hanoinet victims ...``: advocates at the node open cases for victims, follow them and withdraw them.

Commands on the node's data directory (``--data``), like ``hanoinet hashes``. An image named on the command
line is hashed here and never kept. The case's secret is printed once when the case is opened, and is read
from ``HANOINET_CASE_SECRET`` or a prompt afterwards, never from the command line, where other users of the
machine and the shell's history would see it (docs/victims.md).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hanoinet.cli.common import DataOption, node_zone, open_database, operator_actor
from hanoinet.cli.console import err, out, print_json, when
from hanoinet.cli.hashes import ActorOption, JsonOption
from hanoinet.errors import ConfigurationError, ValidationError
from hanoinet.victims.languages import LANGUAGES

# The cases, their ORM and numpy are imported inside the commands, so that other commands start without them.
if TYPE_CHECKING:
    from hanoinet.victims import cases

app = typer.Typer(help="Victims' cases: images submitted as hashes for removal everywhere (docs/victims.md).",
                  no_args_is_help=True)

SECRET_VARIABLE = "HANOINET_CASE_SECRET"  # noqa: S105 - the variable's name, not a secret
_HASH_WITH_QUALITY = re.compile(r"^(?P<hash>[^:]+):(?P<quality>[0-9]{1,3})$")


def _image(argument: str) -> cases.SubmittedImage:
    """An image file, hashed here with its rotations and flips, or ``HASH:QUALITY``."""
    from hanoinet.hashbank import kinds, pdq
    from hanoinet.victims import cases

    path = Path(argument)
    if path.is_file():
        results = pdq.dihedral_hashes(path.read_bytes())
        return cases.SubmittedImage(hashes=[kinds.PDQ.format(r.code) for r in results], quality=results[0].quality)
    given = _HASH_WITH_QUALITY.fullmatch(argument)
    if given is None:
        raise ValidationError(f"{argument[:80]!r} is neither an image file nor a hash with its quality",
                              hint="give image files, or PDQ hashes written HASH:QUALITY (e.g. ...9b22:90)",
                              code="bad_hash")
    return cases.SubmittedImage(hashes=[given["hash"]], quality=given["quality"])


def _secret() -> str:
    """The case's secret from the environment, or asked for without echoing it."""
    given = os.environ.get(SECRET_VARIABLE)
    if given:
        return given
    if not sys.stdin.isatty():
        raise ConfigurationError("no case secret given",
                                 hint=f"set {SECRET_VARIABLE}, or run the command in a terminal to be asked for it")
    return str(typer.prompt("The case's secret", hide_input=True))


@app.command("submit")
def submit(
    items: list[str] = typer.Argument(..., help="image files to hash here, or PDQ hashes written HASH:QUALITY"),
    category: str | None = typer.Option(None, "--category", help="art14: child sexual abuse material; art16: "
                                        "intimate images shared without consent"),
    about_a_child: bool = typer.Option(False, "--about-a-child", help="some image shows someone under 18 "
                                       "(makes the case art14)"),
    language: str = typer.Option(..., "--language", help="the victim's language for the status page: "
                                 + ", ".join(LANGUAGES)),
    data: Path = DataOption,
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Open a case for a victim; prints its number and its secret, which is shown only this once."""
    from hanoinet.node.settings import load_settings
    from hanoinet.victims import cases

    settings = load_settings(data)
    chosen = cases.category_for(category, about_a_child=True if about_a_child else None)
    images = [_image(item) for item in items]
    database = open_database(data)
    try:
        with database.transaction() as uow:
            created = cases.create(uow.session, settings.state, category=chosen, language=language, images=images,
                                   created_by=operator_actor(actor))
    finally:
        database.dispose()
    if as_json:
        print_json({"number": created.number, "secret": created.secret, "category": created.category,
                    "language": created.language, "images": created.images})
        return
    err.print(f"Case opened with {created.images} image{'s' if created.images != 1 else ''} ({created.category}); "
              "the node sends the hashes to every member State while it runs.\n"
              "Give the victim the case number (first line) and the secret (second line), privately. The secret "
              "is shown only this once and cannot be recovered: with both, the victim follows and withdraws the "
              "case.")
    sys.stdout.write(f"{created.number}\n{created.secret}\n")


def _show(found: cases.CaseStatus, as_json: bool, data: Path) -> None:
    if as_json:
        print_json(found.as_json())
        return
    zone = node_zone(data)
    out.print(f"case {found.number}  {found.category}  language {found.language}  "
              f"opened {when(found.created_at, zone)}")
    for image in found.images:
        withdrawn = f" {when(image.withdrawn_at, zone)}" if image.withdrawn_at else ""
        out.print(f"image {image.position}  {image.status}{withdrawn}")
        if not image.takedowns:
            out.print("    no platform has reported on it yet")
        for t in image.takedowns:
            reason = f"  ({t.reason})" if t.reason else ""
            out.print(f"    {t.state}  {t.platform}  {t.status}  {when(t.updated_at, zone)}{reason}")


@app.command("status")
def status(
    number: str = typer.Argument(..., help="the case number, e.g. BRA-7K3M-Q9XD"),
    data: Path = DataOption,
    as_json: bool = JsonOption,
) -> None:
    """Each image of the case and what each platform, in each country, did about it."""
    from hanoinet.victims import cases

    secret = _secret()
    database = open_database(data)
    try:
        found = cases.with_open_case(database, number, secret, cases.status)
    finally:
        database.dispose()
    _show(found, as_json, data)


@app.command("withdraw")
def withdraw(
    number: str = typer.Argument(..., help="the case number, e.g. BRA-7K3M-Q9XD"),
    image: list[int] | None = typer.Option(None, "--image", help="an image's number (repeat it); every image "
                                           "if none is given"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Withdraw images of the case from the bank: platforms everywhere stop acting on them."""
    from hanoinet.node.settings import load_settings
    from hanoinet.victims import cases

    settings = load_settings(data)
    secret = _secret()
    database = open_database(data)
    try:
        after = cases.with_open_case(
            database, number, secret,
            lambda session, case: cases.withdraw(session, settings.state, case, image or None,
                                                 actor=operator_actor(actor)))
    finally:
        database.dispose()
    _show(after, as_json, data)
