"""The purpose rule for received evidence: the original case, or a consent matching in every respect."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.errors import Forbidden, ValidationError
from hanoinet.privacy.use import Grant, Received, Use, allowed, check_use, refused, require

_HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
_STATES = st.sampled_from(["BRA", "FRA", "VNM", "DEU"])
_CASES = st.sampled_from(["BRA-1", "FRA-2", "VNM/3", "case 4"])
_TARGETS = st.sampled_from(["BRA", "FRA", "VNM", "DEU", "org:INTERPOL"])
_PACKAGES = st.sampled_from(["0193a1b2-0000-7000-8000-000000000001", "0193a1b2-0000-7000-8000-000000000002"])
_ITEMS = st.builds(Received, file_id=st.just("f" * 32), sha256=_HEX, origin=_STATES, package=_PACKAGES,
                   case=_CASES)
_USES = st.one_of(st.builds(Use, kind=st.just("case"), target=_CASES),
                  st.builds(Use, kind=st.just("transfer"), target=_TARGETS))


def _grant(item: Received, use: Use) -> Grant:
    return Grant(sha256=item.sha256, package=item.package, state=item.origin, use=use)


@given(_ITEMS, st.lists(st.builds(Grant, sha256=_HEX, package=_PACKAGES, state=_STATES, use=_USES), max_size=5))
def test_the_original_case_and_the_way_back_are_always_allowed(item: Received, grants: list[Grant]) -> None:
    assert allowed(item, Use("case", item.case), grants)
    assert allowed(item, Use("transfer", item.origin), grants)


@given(_ITEMS, _USES)
def test_any_other_use_needs_a_consent_and_an_exact_one_allows_it(item: Received, use: Use) -> None:
    if use in (Use("case", item.case), Use("transfer", item.origin)):
        return
    assert not allowed(item, use, [])
    assert allowed(item, use, [_grant(item, use)])


@given(_ITEMS, _USES, st.sampled_from(["sha256", "package", "state", "kind", "target"]), st.data())
def test_a_consent_differing_in_anything_allows_nothing(item: Received, use: Use, field: str,
                                                        data: st.DataObject) -> None:
    if use in (Use("case", item.case), Use("transfer", item.origin)):
        return
    grant = _grant(item, use)
    if field == "sha256":
        other = dataclasses.replace(grant, sha256=data.draw(_HEX.filter(lambda h: h != item.sha256)))
    elif field == "package":
        other = dataclasses.replace(grant, package=data.draw(_PACKAGES.filter(lambda p: p != item.package)))
    elif field == "state":  # a consent from a State other than the one that sent the item
        other = dataclasses.replace(grant, state=data.draw(_STATES.filter(lambda s: s != item.origin)))
    elif field == "kind":
        other = dataclasses.replace(grant, use=Use("transfer" if use.kind == "case" else "case", use.target))
    else:
        targets = _CASES if use.kind == "case" else _TARGETS
        other = dataclasses.replace(grant, use=Use(use.kind, data.draw(targets.filter(lambda t: t != use.target))))
    assert not allowed(item, use, [other])


@given(st.lists(_ITEMS, min_size=1, max_size=6), _USES, st.data())
def test_refused_lists_exactly_the_items_without_consent(items: list[Received], use: Use, data: st.DataObject) -> None:
    consented = [i for i in items if data.draw(st.booleans())]
    expected = [i for i in items if not allowed(i, use, [_grant(c, use) for c in consented])]
    assert refused(items, use, [_grant(c, use) for c in consented]) == expected
    if expected:
        with pytest.raises(Forbidden) as caught:
            require(items, use, [_grant(c, use) for c in consented])
        assert caught.value.code == "consent_required" and caught.value.http_status == 403
        assert all(i.origin in caught.value.message for i in expected)
    else:
        require(items, use, [_grant(c, use) for c in consented])


def test_the_refusal_names_the_state_the_use_and_the_command_that_asks() -> None:
    item = Received(file_id="a" * 32, sha256="b" * 64, origin="BRA", package="0193a1b2-0000-7000-8000-000000000001",
                    case="BRA-2026-0042")
    with pytest.raises(Forbidden) as caught:
        require([item], Use("transfer", "VNM"), [])
    error = caught.value
    assert "transfer to VNM" in error.message and "consent of BRA" in error.message and "Art. 36" in error.message
    assert f"hanoinet evidence consent request --file {'a' * 32} --to VNM --reason WHY" in error.hint
    assert '"use": "transfer", "target": "VNM"' in error.hint and "POST /api/v1/evidence/consents" in error.hint
    with pytest.raises(Forbidden) as caught:
        require([item], Use("case", "FRA-9"), [])
    assert "Art. 40" in caught.value.message and "--case FRA-9" in caught.value.hint


@pytest.mark.parametrize(("kind", "target"), [("case", "FRA-1"), ("transfer", "VNM"), ("transfer", "org:INTERPOL")])
def test_uses_that_are_well_formed(kind: str, target: str) -> None:
    assert check_use(kind, target) == Use(kind, target)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "target"), [("case", ""), ("case", "/x"), ("transfer", "XXX"), ("transfer", "vnm"),
                                              ("transfer", "org:"), ("publish", "VNM")])
def test_uses_that_are_refused(kind: str, target: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_use(kind, target)
    assert caught.value.code == "bad_use"
