"""The key names of a State's custody log and of its witness (ledger.md section 4.3).

Pure, so that offline verifiers can name the keys without importing the log's database code.
"""

from __future__ import annotations


def origin_of(state: str) -> str:
    """The name of ``state``'s log in its checkpoints (C2SP origin), stable across endpoint changes."""
    return f"hanoinet/{state}/ledger"


def witness_name(state: str) -> str:
    """The key name ``state``'s node cosigns under."""
    return f"hanoinet/{state}/witness"
