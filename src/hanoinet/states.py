"""States as ISO 3166-1 alpha-3 codes, and desk addresses such as ``VNM/247``."""

from __future__ import annotations

import re
from typing import Annotated

import pycountry
from pydantic import AfterValidator

from hanoinet.errors import ValidationError

_DESK = re.compile(r"^[A-Za-z0-9]{2,16}$")

#: Desks a node has from the start: the Art. 41 24/7 point of contact and the Art. 40 central authority.
STANDARD_DESKS = ("247", "CA")


def check_state(code: str) -> str:
    """Return ``code`` if it is an ISO 3166-1 alpha-3 code, else raise a :class:`ValidationError`."""
    if not isinstance(code, str) or len(code) != 3 or not code.isupper() or \
            pycountry.countries.get(alpha_3=code) is None:
        raise ValidationError(
            f"{code!r} is not an ISO 3166-1 alpha-3 country code",
            hint="use the three-letter code in capitals, e.g. VNM, FRA, BRA",
        )
    return code


def state_name(code: str) -> str:
    """The English short name of a State (ISO 3166)."""
    country = pycountry.countries.get(alpha_3=code)
    return str(country.name) if country is not None else code


def check_desk(desk: str) -> str:
    """Return ``desk`` if it is a valid desk id (2-16 letters or digits)."""
    if not isinstance(desk, str) or not _DESK.fullmatch(desk):
        raise ValidationError(f"{desk!r} is not a desk id", hint="use 2-16 letters or digits, e.g. 247 or CA")
    return desk


def check_address(address: str) -> str:
    """Return ``address`` if it has the form ``STATE/DESK`` (e.g. ``VNM/247``)."""
    state, sep, desk = address.partition("/") if isinstance(address, str) else ("", "", "")
    if not sep:
        raise ValidationError(f"{address!r} is not an address", hint="write STATE/DESK, e.g. VNM/247")
    check_state(state)
    check_desk(desk)
    return address


def split_address(address: str) -> tuple[str, str]:
    """``VNM/247`` -> ``("VNM", "247")``."""
    state, _, desk = check_address(address).partition("/")
    return state, desk


StateCode = Annotated[str, AfterValidator(check_state)]
DeskId = Annotated[str, AfterValidator(check_desk)]
Address = Annotated[str, AfterValidator(check_address)]
