"""The inbox stores an envelope once, even when the same envelope arrives on several connections at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from hanoinet.db.models import InboxMessage
from hanoinet.network import inbox
from hanoinet.node.node import Node
from tests.support import envelope


def test_concurrent_copies_of_one_envelope_are_stored_once(pair_on_both: tuple[Node, Node]) -> None:
    vnm, fra = pair_on_both
    sealed = envelope(vnm, fra)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: inbox.receive(fra, sealed.jwe), range(8)))
    assert len({r.receipt for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    with fra.db.transaction() as uow:
        assert uow.session.scalar(select(func.count()).select_from(InboxMessage)) == 1


