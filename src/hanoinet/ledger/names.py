"""How the network names each State's custody log and its witness key: the C2SP origin line of a checkpoint
and the key name cosignatures are made under (docs/ledger.md). Pure: ``hanoinet verify`` uses it offline."""

from __future__ import annotations


def origin_of(state: str) -> str:
    """The name of ``state``'s log in its checkpoints (C2SP origin), stable across endpoint changes."""
    return f"hanoinet/{state}/ledger"


def witness_name(state: str) -> str:
    """The key name ``state``'s node cosigns under."""
    return f"hanoinet/{state}/witness"
