"""``make demo`` / ``python -m hanoinet.demo``: the multi-node scenario (see :mod:`hanoinet.demo.scenario`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hanoinet import logs
from hanoinet.demo.scenario import run


def main() -> int:
    """Parse the options and play the scenario."""
    parser = argparse.ArgumentParser(description="Three States' nodes follow a ransomware attack across borders.")
    parser.add_argument("--dir", type=Path, default=Path("demo-data"), help="where the nodes live (wiped first)")
    parser.add_argument("--keep", action="store_true", help="leave the nodes running; print URLs and tokens")
    parser.add_argument("--json", action="store_true", help="print only the final JSON line")
    args = parser.parse_args()
    logs.configure(debug=False)
    return run(args.dir, keep=args.keep, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
