"""The catalogue file is checked before the flow starts, with errors that say where and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from insession.schemas.catalogue import SCENARIOS, CatalogueError, load_catalogue

from tests.operators.scenario import CATALOGUE

GOOD_OFFER = """
[[offer]]
action_id = "{id}"
kind = "content"
title = "t"
value = 1.0
base_rate = 0.1
scenarios = ["browse"]
requires_consent = false
fallback = {fallback}
"""


def test_the_default_catalogue_loads_and_answers_every_scenario() -> None:
    catalogue = load_catalogue(CATALOGUE)
    covered = {s for offer in catalogue.offers for s in offer.scenarios}
    assert covered == set(SCENARIOS)
    assert not catalogue.fallback.requires_consent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD_OFFER.format(id="a", fallback="true").replace('"content"', '"gift"'),
            "offer #1 (a): kind 'gift' is not one of",
        ),
        (
            GOOD_OFFER.format(id="a", fallback="true").replace("0.1", "1.5"),
            "offer #1 (a): base_rate must be between 0 and 1",
        ),
        (
            GOOD_OFFER.format(id="a", fallback="true").replace('["browse"]', '["fun"]'),
            "offer #1 (a): scenarios must be some of",
        ),
        (
            GOOD_OFFER.format(id="a", fallback="true") + "colour = 'red'\n",
            "offer #1 (a): unknown field(s) colour",
        ),
        (
            GOOD_OFFER.format(id="a", fallback="true").replace("value = 1.0", 'value = "high"'),
            "offer #1 (a): value must be float",
        ),
        (
            GOOD_OFFER.format(id="a", fallback="true")
            + GOOD_OFFER.format(id="a", fallback="false"),
            "duplicate action_id(s): a",
        ),
        (GOOD_OFFER.format(id="a", fallback="false"), "exactly one offer must have fallback"),
        ("[policy]\nmax_offers_per_session = 2\n", "no [[offer]] entries"),
        ("[[offer]\n", "not valid TOML"),
    ],
)
def test_catalogue_errors_name_the_offer_field_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(text)
    with pytest.raises(
        CatalogueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        load_catalogue(path)
