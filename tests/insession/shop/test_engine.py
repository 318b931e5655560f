"""The demo shop's engine is paced for someone clicking through, whatever the catalogue says."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from insession.shop.engine import DEMO_MAX_OFFERS, DEMO_MIN_GAP_S, paced_for_a_demo

PACED = {"min_gap_s": DEMO_MIN_GAP_S, "max_offers_per_session": DEMO_MAX_OFFERS}


@pytest.mark.parametrize(
    "catalogue",
    [
        resources.files("insession").joinpath("catalogue.toml").read_text(),  # states both
        '[policy]\noffer_ttl_s = 5\n\n[[offer]]\naction_id = "x"\n',  # leaves them to defaults
        '[[offer]]\naction_id = "x"\n',  # no policy table at all
    ],
)
def test_the_policy_is_paced_and_the_rest_kept(catalogue: str) -> None:
    before, after = tomllib.loads(catalogue), tomllib.loads(paced_for_a_demo(catalogue))
    assert after["policy"] == {**before.get("policy", {}), **PACED}
    assert after["offer"] == before["offer"]
