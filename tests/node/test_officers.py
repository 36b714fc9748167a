"""Officers are added with names that are one line of text, from the CLI as from the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Officer
from hanoinet.errors import ValidationError
from hanoinet.node.officers import add_officer
from tests.support import make_node


@pytest.mark.parametrize("name", ["Lan\x1b[2J", "Lan\udcff", "Nguyen\nThi Lan", "Lan\x00"])
def test_a_name_that_is_not_one_line_of_text_is_refused(tmp_path: Path, authority: KeyPair, name: str) -> None:
    # Regression: `hanoinet officer add --name` stored control characters, and a byte that is not UTF-8 on
    # the command line (a lone surrogate to Python) failed only when the name was written back out.
    node = make_node(tmp_path, "VNM", authority)
    with pytest.raises(ValidationError) as info, node.db.transaction() as uow:
        add_officer(uow.session, name=name, role="duty_officer", desk="247", desks={"247"})
    assert info.value.code == "invalid_text" and info.value.message.startswith("name: character")
    with node.db.transaction(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Officer)) == 0
    node.close()
