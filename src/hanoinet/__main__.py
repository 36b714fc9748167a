"""``python -m hanoinet`` runs the CLI."""

from hanoinet.cli.main import run

run()
