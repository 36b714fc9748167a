"""``hanoinet verify``: a court's check of an evidence package, started without Typer.

A court verifying a large package should wait for the hashing, not for the command line: Typer builds a
pydantic adapter for every parameter, which costs more than a tenth of a second before anything runs. So the
command line of ``verify`` is read here, by :func:`parse`, and the Typer command in hanoinet.cli.evidence
calls the same :func:`run`. :func:`parse` reads only the options the Typer command declares and gives up
(None) on anything else, ``--help`` included, which Typer then answers as for every command
(tests/cli/test_verify.py holds the two to the same options).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hanoinet.errors import ValidationError

if TYPE_CHECKING:
    from hanoinet.evidence.reading import Reading


@dataclass(frozen=True)
class VerifyArgs:
    """What ``hanoinet verify`` was asked to do."""

    package_file: Path
    trust: tuple[str, ...] = ()
    data: Path | None = None
    as_json: bool = False
    report_file: Path | None = None


#: Options taking a value, by every name the Typer command gives them, and the field each sets.
VALUE_OPTIONS = {"--trust": "trust", "--data": "data", "-d": "data", "--report": "report_file"}
#: Flags, by name, and the field each sets.
FLAGS = {"--json": "as_json"}


def parse(args: list[str]) -> VerifyArgs | None:
    """The arguments after ``verify``, or None when they hold anything but one package and the known options."""
    trust: list[str] = []
    values: dict[str, str] = {}
    flags: set[str] = set()
    positional: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--":
            positional.extend(words)
            break
        if word.startswith("-") and word != "-":
            name, has_value, value = word.partition("=")
            if name in FLAGS and not has_value:
                flags.add(FLAGS[name])
                continue
            if name not in VALUE_OPTIONS or (has_value and not name.startswith("--")):
                return None
            if not has_value:
                # As Click does, the next word is the value whatever it looks like: a fingerprint may begin with "-".
                following = next(words, None)
                if following is None:
                    return None
                value = following
            if VALUE_OPTIONS[name] == "trust":
                trust.append(value)
            else:
                values[VALUE_OPTIONS[name]] = value
            continue
        positional.append(word)
    if len(positional) != 1:
        return None
    return VerifyArgs(
        package_file=Path(positional[0]), trust=tuple(trust),
        data=Path(values["data"]) if "data" in values else None, as_json="as_json" in flags,
        report_file=Path(values["report_file"]) if "report_file" in values else None,
    )


def main(args: VerifyArgs) -> int:
    """``hanoinet verify`` as hanoinet.cli.start runs it: the package is read from the first moment."""
    from hanoinet.evidence.reading import Reading

    # Read and hashed beside this process from now on, while the rest of the verifier is imported.
    reading = Reading(args.package_file)
    try:
        from hanoinet.cli.console import guarded

        return guarded(lambda: run(args, reading))
    finally:
        reading.close()


def run(args: VerifyArgs, reading: Reading | None = None) -> int:
    """Verify the package, print the checks and the verdict (or JSON), write the report; the exit status.

    ``reading`` is the package being read already, if it is. Raises HanoinetError for what stops the command
    itself (a --trust that is not a fingerprint, a bad --data, a report that cannot be written).
    """
    from hanoinet.evidence.reading import Reading

    if reading is None:
        # Typer's process has imported most of what follows already, and may run threads: no fork there.
        reading = Reading(args.package_file, child_process=False)

    from rich.markup import escape

    from hanoinet.cli.console import out, print_json, when
    from hanoinet.evidence.report import render_html
    from hanoinet.evidence.verify import (
        TrustAnchor,
        Verdict,
        headline,
        next_step,
        trust_anchors,
        verify_read,
    )

    anchors = trust_anchors(args.trust, "--trust")
    if args.data is not None:
        from hanoinet.node.pinned import pinned_fingerprint

        anchors.append(TrustAnchor(pinned_fingerprint(args.data), f"pinned by the node in {args.data}"))
    if not anchors:
        anchors = trust_anchors(os.environ.get("HANOINET_TRUST", "").replace(",", " ").split(), "HANOINET_TRUST")
    # Opened now, so that a report that cannot be written is said at once, not after reading the package.
    report_out = args.report_file.open("w", encoding="utf-8") if args.report_file is not None else None
    report = verify_read(reading.result, name=args.package_file.name, trust=anchors)
    if report_out is not None:
        with report_out:
            report_out.write(render_html(report))
    if args.as_json:
        print_json(report.as_json())
        return report.verdict.exit_status
    # Everything below quotes the package (names, states, details), which may hold Rich markup: escaped.
    for check in report.checks:
        mark = "[green]ok  [/]" if check.ok else "[bold red]FAIL[/]"
        out.print(f"{mark} {check.name}: {escape(check.subject)}: {escape(check.detail)}")
    if report.signer_fingerprint:
        out.print(escape(f"signer: {report.signer_state}, key fingerprint {report.signer_fingerprint}"
                         + (f", anchored by trusted key {report.anchored_by} ({report.anchor_source})"
                            if report.anchored_by else ", not anchored")))
    if report.witnesses:
        try:  # in UTC, as the court's report writes it; a package may hold anything, shown then as written
            logged = when(report.witnessed_before, precision="second")
        except ValidationError:
            logged = repr(report.witnessed_before)
        out.print(escape(f"witnessed by: {', '.join(report.witnesses)}; in the log no later than {logged}"))
    for warning in report.warnings:
        out.print(f"[bold yellow]warning:[/] {escape(warning)}")
    colour = {Verdict.VALID: "bold green", Verdict.NOT_VALID: "bold red", Verdict.NOT_ANCHORED: "bold yellow",
              Verdict.UNTRUSTED_SIGNER: "bold red"}[report.verdict]
    out.print(f"[{colour}]{escape(headline(report))}[/]")
    step = next_step(report, shlex.quote(str(args.package_file)))
    if step:
        out.print(f"[bold]next:[/] {escape(step)}")
    return report.verdict.exit_status
