"""States as ISO 3166-1 alpha-3 codes, and desk addresses such as ``VNM/247``."""

from __future__ import annotations

import re
from typing import Annotated

import pycountry
from pydantic import AfterValidator

from hanoinet.errors import ValidationError

_DESK = re.compile(r"^[A-Za-z0-9]{2,16}$")

#: The State codes of the protocol (docs/protocol.md section 2.5 and Appendix C): the 249 alpha-3 codes
#: ISO 3166-1 officially assigns, unchanged since South Sudan (SSD) was added in 2011. Written out rather
#: than read from pycountry so that a library update can never change what the node accepts; user-assigned
#: codes such as XKX, and reserved or withdrawn ones such as ANT, are not in it.
STATE_CODES = frozenset((
    "ABW", "AFG", "AGO", "AIA", "ALA", "ALB", "AND", "ARE", "ARG", "ARM", "ASM", "ATA", "ATF", "ATG", "AUS", "AUT",
    "AZE", "BDI", "BEL", "BEN", "BES", "BFA", "BGD", "BGR", "BHR", "BHS", "BIH", "BLM", "BLR", "BLZ", "BMU", "BOL",
    "BRA", "BRB", "BRN", "BTN", "BVT", "BWA", "CAF", "CAN", "CCK", "CHE", "CHL", "CHN", "CIV", "CMR", "COD", "COG",
    "COK", "COL", "COM", "CPV", "CRI", "CUB", "CUW", "CXR", "CYM", "CYP", "CZE", "DEU", "DJI", "DMA", "DNK", "DOM",
    "DZA", "ECU", "EGY", "ERI", "ESH", "ESP", "EST", "ETH", "FIN", "FJI", "FLK", "FRA", "FRO", "FSM", "GAB", "GBR",
    "GEO", "GGY", "GHA", "GIB", "GIN", "GLP", "GMB", "GNB", "GNQ", "GRC", "GRD", "GRL", "GTM", "GUF", "GUM", "GUY",
    "HKG", "HMD", "HND", "HRV", "HTI", "HUN", "IDN", "IMN", "IND", "IOT", "IRL", "IRN", "IRQ", "ISL", "ISR", "ITA",
    "JAM", "JEY", "JOR", "JPN", "KAZ", "KEN", "KGZ", "KHM", "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY",
    "LCA", "LIE", "LKA", "LSO", "LTU", "LUX", "LVA", "MAC", "MAF", "MAR", "MCO", "MDA", "MDG", "MDV", "MEX", "MHL",
    "MKD", "MLI", "MLT", "MMR", "MNE", "MNG", "MNP", "MOZ", "MRT", "MSR", "MTQ", "MUS", "MWI", "MYS", "MYT", "NAM",
    "NCL", "NER", "NFK", "NGA", "NIC", "NIU", "NLD", "NOR", "NPL", "NRU", "NZL", "OMN", "PAK", "PAN", "PCN", "PER",
    "PHL", "PLW", "PNG", "POL", "PRI", "PRK", "PRT", "PRY", "PSE", "PYF", "QAT", "REU", "ROU", "RUS", "RWA", "SAU",
    "SDN", "SEN", "SGP", "SGS", "SHN", "SJM", "SLB", "SLE", "SLV", "SMR", "SOM", "SPM", "SRB", "SSD", "STP", "SUR",
    "SVK", "SVN", "SWE", "SWZ", "SXM", "SYC", "SYR", "TCA", "TCD", "TGO", "THA", "TJK", "TKL", "TKM", "TLS", "TON",
    "TTO", "TUN", "TUR", "TUV", "TWN", "TZA", "UGA", "UKR", "UMI", "URY", "USA", "UZB", "VAT", "VCT", "VEN", "VGB",
    "VIR", "VNM", "VUT", "WLF", "WSM", "YEM", "ZAF", "ZMB", "ZWE",
))

#: Desks a node has from the start: the Art. 41 24/7 point of contact and the Art. 40 central authority.
STANDARD_DESKS = ("247", "CA")


def check_state(code: str) -> str:
    """Return ``code`` if it is one of :data:`STATE_CODES`, else raise a :class:`ValidationError`."""
    if not isinstance(code, str) or code not in STATE_CODES:
        raise ValidationError(
            f"{code!r} is not an ISO 3166-1 alpha-3 country code",
            hint="use the three-letter code in capitals, e.g. VNM, FRA, BRA (docs/protocol.md, Appendix C; "
                 "user-assigned codes such as XKX are not accepted)",
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
