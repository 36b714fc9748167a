"""Entry point of the ``hanoinet`` command: what must answer at once, then everything else.

``hanoinet ... --help`` is printed from a cache when it can be (hanoinet.cli.helpcache), and ``hanoinet
verify`` runs without Typer (hanoinet.cli.verify); every other command line goes to the Typer application
in hanoinet.cli.main. Only the standard library and these two small modules are imported before the choice.
"""

from __future__ import annotations

import contextlib
import os
import sys


def run() -> None:
    """Run the command line in ``sys.argv``."""
    args = sys.argv[1:]
    if args[-1:] == ["--help"]:  # only then is the help cache worth importing (hashing, patterns)
        from hanoinet.cli import helpcache

        if helpcache.replay(args):
            raise SystemExit(0)
    if args[:1] == ["verify"]:
        from hanoinet.cli import verify

        parsed = verify.parse(args[1:])
        if parsed is not None:
            try:
                status = verify.main(parsed)
            except KeyboardInterrupt:  # Ctrl-C: the reading child is stopped; no traceback, the usual status
                status = 130
            # Everything is written and flushed: leave without tearing down the verifier's hundreds of modules,
            # which takes the interpreter longer than a court should wait for a verdict already printed.
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError, ValueError):  # the reader of the output left, or closed it
                        stream.flush()
            os._exit(status)
    from hanoinet.cli import helpcache
    from hanoinet.cli.main import run as run_all

    helpcache.record(args, run_all)
