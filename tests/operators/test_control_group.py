"""The control group is stable per customer, the configured share, and gets random offers."""

from __future__ import annotations

import dataclasses

import pytest
from insession.operators.control_group import ControlGroup

from tests.operators.scenario import Shopper


def test_membership_is_stable_and_close_to_the_share() -> None:
    group = ControlGroup(share=0.02)
    ids = [f"cust-{n:06d}" for n in range(100_000)]
    members = [who for who in ids if group.contains(who)]
    assert 1_800 <= len(members) <= 2_200
    assert members == [who for who in ids if ControlGroup(share=0.02).contains(who)]


def test_a_new_salt_draws_a_new_group() -> None:
    ids = [f"cust-{n}" for n in range(10_000)]
    first = {w for w in ids if ControlGroup(share=0.1).contains(w)}
    second = {w for w in ids if ControlGroup(share=0.1, salt="season-2").contains(w)}
    assert 0.05 < len(first & second) / len(first) < 0.2


def _member(group: ControlGroup) -> str:
    return next(f"c-{n}" for n in range(10_000) if group.contains(f"c-{n}"))


def _hesitating_shopper(customer: str, control: ControlGroup) -> Shopper:
    she = Shopper(customer_id=customer)
    she.engine.config = dataclasses.replace(she.engine.config, control=control)
    she.consent()
    she.add("dress-1", price=80.0, category="apparel.dress")
    she.add("belt-9", price=20.0, category="apparel.belt")
    return she


def test_control_customers_get_a_random_eligible_offer_with_its_probability() -> None:
    group = ControlGroup(share=0.3)
    she = _hesitating_shopper(_member(group), group)
    decision = she.remove("belt-9")
    assert decision.offer is not None
    assert "control:random" in decision.offer.reason_codes
    assert decision.offer.model_version == "control-random"
    # Cart abandonment with 100 in the cart: free-delivery and cart-save-10 are eligible.
    assert decision.offer.action_id in ("free-delivery", "cart-save-10")
    assert decision.offer.probability == pytest.approx(1 / 2)


def test_holdout_mode_makes_no_offer() -> None:
    group = ControlGroup(share=0.3, mode="none")
    she = _hesitating_shopper(_member(group), group)
    decision = she.remove("belt-9")
    assert decision.offer is None and decision.reason == "control_holdout"


def test_customers_outside_the_group_get_the_policy() -> None:
    group = ControlGroup(share=0.3)
    outsider = next(f"c-{n}" for n in range(10_000) if not group.contains(f"c-{n}"))
    she = _hesitating_shopper(outsider, group)
    offer = she.remove("belt-9").offer
    assert offer is not None and offer.probability == 1.0
    assert "control:random" not in offer.reason_codes


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        ControlGroup(share=1.5)
    with pytest.raises(ValueError, match="mode"):
        ControlGroup(mode="sometimes")
