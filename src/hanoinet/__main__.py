"""``python -m hanoinet`` runs the CLI."""

from hanoinet.cli.start import run

run()
