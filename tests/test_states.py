"""States (ISO 3166-1 alpha-3), desk ids and STATE/DESK addresses."""

from __future__ import annotations

import re
from pathlib import Path

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from hanoinet.errors import ValidationError
from hanoinet.states import (
    STANDARD_DESKS,
    STATE_CODES,
    Address,
    DeskId,
    StateCode,
    check_address,
    check_desk,
    check_state,
    split_address,
    state_name,
)

ALPHA3 = sorted(c.alpha_3 for c in pycountry.countries)


@pytest.mark.parametrize("code", ["VNM", "FRA", "BRA", "USA", "ZAF"])
def test_check_state_accepts_iso_codes(code: str) -> None:
    assert check_state(code) == code


@pytest.mark.parametrize("code", ["vnm", "Vnm", "VN", "VNMM", "XXX", "AAA", "", " FRA", "FRA\n", "704", None, 704])
def test_check_state_refuses(code: object) -> None:
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-3") as info:
        check_state(code)  # type: ignore[arg-type]
    assert "VNM" in info.value.hint


@settings(max_examples=200)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
def test_any_three_capitals_accepted_iff_assigned(code: str) -> None:
    try:
        check_state(code)
    except ValidationError:
        assert code not in ALPHA3
    else:
        assert code in ALPHA3


PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def appendix_c() -> set[str]:
    """The codes listed in docs/protocol.md, Appendix C."""
    text = PROTOCOL.read_text(encoding="utf-8").split("## Appendix C. State codes", 1)[1]
    block = re.search(r"```\n(.*?)```", text, flags=re.DOTALL)
    assert block is not None
    return set(block.group(1).split())


def test_the_node_accepts_exactly_the_codes_of_appendix_c() -> None:
    codes = appendix_c()
    assert len(codes) == 249
    assert codes == STATE_CODES
    for code in sorted(codes):
        assert check_state(code) == code


def test_appendix_c_is_iso_3166_1_as_pycountry_lists_it() -> None:
    """If this fails after a pycountry update, ISO 3166-1 changed: the protocol list is a decision to make
    (docs/protocol.md section 2.5), not something to follow silently."""
    assert set(ALPHA3) == STATE_CODES


@pytest.mark.parametrize("code", ["XKX", "XXK", "EUE", "ANT", "SCG", "QMA", "ZZZ", "AAA"])
def test_user_assigned_reserved_and_withdrawn_codes_are_refused(code: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_state(code)
    assert "XKX" in info.value.hint


def test_state_name() -> None:
    assert state_name("VNM") == "Viet Nam"
    assert state_name("FRA") == "France"
    assert state_name("QQQ") == "QQQ"


@pytest.mark.parametrize("desk", ["247", "CA", "ab", "A" * 16, "Desk42"])
def test_check_desk_accepts(desk: str) -> None:
    assert check_desk(desk) == desk


@pytest.mark.parametrize("desk", ["", "7", "A" * 17, "24/7", "2 4", "desk-1", "d\u00e9sk", "247\n", None, 247])
def test_check_desk_refuses(desk: object) -> None:
    with pytest.raises(ValidationError, match="not a desk id"):
        check_desk(desk)  # type: ignore[arg-type]


def test_standard_desks_are_valid() -> None:
    assert [check_desk(d) for d in STANDARD_DESKS] == ["247", "CA"]


@pytest.mark.parametrize(("address", "parts"), [("VNM/247", ("VNM", "247")), ("FRA/CA", ("FRA", "CA"))])
def test_addresses(address: str, parts: tuple[str, str]) -> None:
    assert check_address(address) == address
    assert split_address(address) == parts


@pytest.mark.parametrize(
    "address", ["VNM", "VNM/", "/247", "vnm/247", "XXX/247", "VNM/2", "VNM/247/1", "VNM 247", "VNM/247\n", None, ""]
)
def test_bad_addresses(address: object) -> None:
    with pytest.raises(ValidationError):
        check_address(address)  # type: ignore[arg-type]


def test_split_address_validates() -> None:
    with pytest.raises(ValidationError):
        split_address("VNM:247")


class _Typed(BaseModel):
    state: StateCode
    desk: DeskId
    address: Address


def test_annotated_types_validate() -> None:
    assert _Typed(state="VNM", desk="CA", address="FRA/247").address == "FRA/247"
    for bad in ({"state": "XXX"}, {"desk": "!"}, {"address": "FRA-247"}):
        with pytest.raises((ValidationError, ValueError)):
            _Typed(**{"state": "VNM", "desk": "CA", "address": "FRA/247", **bad})


@settings(max_examples=100)
@given(st.sampled_from(ALPHA3), st.from_regex(r"[A-Za-z0-9]{2,16}", fullmatch=True))
def test_split_is_inverse_of_join(state: str, desk: str) -> None:
    assert split_address(f"{state}/{desk}") == (state, desk)


def test_trailing_newline_in_desk_or_address_is_refused_regression() -> None:
    # Regression: the desk pattern ended in "$", which also matches before a final newline.
    with pytest.raises(ValidationError):
        check_desk("CA\n")
    with pytest.raises(ValidationError):
        check_address("FRA/CA\n")
