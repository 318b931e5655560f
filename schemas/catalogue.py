"""The offer catalogue that merchandisers own: what may be offered, to whom, how often.

Loaded from a TOML file (`[[offer]]` tables plus a `[policy]` table); every problem is
reported with the offer's index and id, the field and why, before the flow starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from insession.schemas.events import OFFER_KINDS

SCENARIOS = (
    "browse",
    "hesitation",
    "struggle",
    "cart_abandonment",
    "negative_sentiment",
    "complementary",
    "post_purchase",
    "loyalty",
)
"""Situations an offer can address; `operators.signals` detects them."""

OFFER_STRATEGIES: dict[str, str] = {
    "bought_together": "bought with what the shopper just bought (or bought before), at her "
    "price level",
    "cart": "bought together with the items in the cart",
    "for_you": "the shopper's shelf: from the session so far and past purchases",
    "similar": "viewed together with the product in view, in its category",
    "cheaper": "viewed together with the product in view, in its category, for less",
    "viewed_together": "viewed together with the product in view",
    "trending": "popular now",
}
"""What an offer's `strategy` may name (`operators.recommendations` answers each), and what
it shows."""
PERSONAL_STRATEGIES = frozenset({"bought_together", "cart", "for_you"})
"""Strategies that read the shopper's history (purchases, cart, session): an offer naming one
must require consent. The others read only the product in view, or nothing of the shopper."""


@dataclass(frozen=True, slots=True)
class CatalogueOffer:
    """One action the engine may choose."""

    action_id: str
    kind: str
    title: str
    value: float
    base_rate: float
    scenarios: tuple[str, ...]
    lever: float = 1.0
    categories: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    strategy: str = ""
    """Fill `items` from the recommendations (`OFFER_STRATEGIES`) instead of a fixed list;
    the offer is only made when the strategy finds items for the shopper."""
    max_items: int = 3
    """Items a strategy offer shows at most."""
    min_price: float | None = None
    max_price: float | None = None
    min_cart_value: float = 0.0
    in_stock: bool = True
    requires_consent: bool = True
    max_per_session: int = 1
    cooldown_s: int = 600
    reward_window_s: int = 1800
    fallback: bool = False

    def fits_price(self, price: float | None) -> bool:
        """Whether a shopper browsing around `price` is in this offer's price band.

        No price seen yet (`None`) excludes no one: the band only narrows known shoppers.
        """
        if price is None:
            return True
        low = self.min_price if self.min_price is not None else 0.0
        high = self.max_price if self.max_price is not None else float("inf")
        return low <= price <= high


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """Limits that keep offers helpful rather than intrusive, across all channels."""

    max_offers_per_session: int = 3
    min_gap_s: int = 20
    dismissal_cooldown_s: int = 600
    suppress_after_ignored: int = 3
    offer_ttl_s: int = 1800


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All offers and the contact policy; `fallback` answers when no decision can be made."""

    offers: tuple[CatalogueOffer, ...]
    policy: ContactPolicy
    fallback: CatalogueOffer
    reward: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """The `[reward]` table, checked by `operators.feedback_join.RewardPolicy`."""

    def by_id(self, action_id: str) -> CatalogueOffer:
        return next(o for o in self.offers if o.action_id == action_id)


class CatalogueError(ValueError):
    """The catalogue file is wrong; the message names the offer, the field and why."""


def _convert(where: str, name: str, value: Any, default: Any) -> Any:
    expected = type(default) if default is not None else float
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CatalogueError(f"{where}: {name} must be a list of strings")
        return tuple(value)
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise CatalogueError(f"{where}: {name} must be {expected.__name__}, got {value!r}")
    return value


_REQUIRED = ("action_id", "kind", "title", "value", "base_rate", "scenarios")
_DEFAULTS: dict[str, Any] = {
    "action_id": "",
    "kind": "",
    "title": "",
    "value": 0.0,
    "base_rate": 0.0,
    "scenarios": (),
    "strategy": "",
}


def parse_offer(index: int, table: dict[str, Any]) -> CatalogueOffer:
    """Check one `[[offer]]` table and build the offer."""
    where = f"offer #{index} ({table.get('action_id', '?')})"
    known = {f.name: f for f in fields(CatalogueOffer)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in _REQUIRED:
        if name not in table:
            raise CatalogueError(f"{where}: {name} is required")
    values = {
        name: _convert(where, name, value, _DEFAULTS.get(name, known[name].default))
        for name, value in table.items()
    }
    offer = CatalogueOffer(**values)
    if offer.kind not in OFFER_KINDS:
        raise CatalogueError(f"{where}: kind {offer.kind!r} is not one of {', '.join(OFFER_KINDS)}")
    bad = sorted(set(offer.scenarios) - set(SCENARIOS))
    if bad or not offer.scenarios:
        raise CatalogueError(f"{where}: scenarios must be some of {', '.join(SCENARIOS)}")
    if not 0.0 < offer.base_rate < 1.0:
        raise CatalogueError(f"{where}: base_rate must be between 0 and 1")
    if offer.value < 0 or offer.lever <= 0:
        raise CatalogueError(f"{where}: value must be >= 0 and lever > 0")
    if offer.strategy:
        if offer.strategy not in OFFER_STRATEGIES:
            raise CatalogueError(
                f"{where}: strategy {offer.strategy!r} is not one of {', '.join(OFFER_STRATEGIES)}"
            )
        if offer.kind != "product":
            raise CatalogueError(f"{where}: only a product offer can name a strategy")
        if offer.items:
            raise CatalogueError(f"{where}: name either a strategy or items, not both")
        if offer.strategy in PERSONAL_STRATEGIES and not offer.requires_consent:
            raise CatalogueError(
                f"{where}: strategy {offer.strategy} reads the shopper's history, so the "
                "offer must require consent"
            )
    if not 1 <= offer.max_items <= 20:
        raise CatalogueError(f"{where}: max_items must be between 1 and 20")
    if offer.max_per_session < 1 or offer.cooldown_s < 0 or offer.reward_window_s <= 0:
        raise CatalogueError(f"{where}: max_per_session >= 1, cooldown_s >= 0, reward_window_s > 0")
    return offer


def parse_catalogue(document: dict[str, Any]) -> Catalogue:
    """Build a catalogue from a parsed TOML document."""
    tables = document.get("offer", [])
    if not tables:
        raise CatalogueError("the catalogue has no [[offer]] entries")
    offers = tuple(parse_offer(i, t) for i, t in enumerate(tables, start=1))
    ids = [o.action_id for o in offers]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogueError(f"duplicate action_id(s): {', '.join(duplicates)}")
    fallbacks = [o for o in offers if o.fallback]
    if len(fallbacks) != 1:
        raise CatalogueError(f"exactly one offer must have fallback = true, found {len(fallbacks)}")
    if fallbacks[0].requires_consent:
        raise CatalogueError(f"fallback {fallbacks[0].action_id}: must not require consent")
    policy_table = document.get("policy", {})
    policy_fields = {f.name: f.default for f in fields(ContactPolicy)}
    unknown = sorted(set(policy_table) - set(policy_fields))
    if unknown:
        raise CatalogueError(f"[policy]: unknown field(s) {', '.join(unknown)}")
    policy = ContactPolicy(
        **{
            name: _convert("[policy]", name, value, policy_fields[name])
            for name, value in policy_table.items()
        }
    )
    reward = document.get("reward", {})
    if not isinstance(reward, dict):
        raise CatalogueError("[reward] must be a table")
    return Catalogue(offers=offers, policy=policy, fallback=fallbacks[0], reward=reward)


def load_catalogue(path: Path) -> Catalogue:
    """Read and check a catalogue TOML file."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as bad:
        raise CatalogueError(f"{path}: not valid TOML: {bad}") from None
    try:
        return parse_catalogue(document)
    except CatalogueError as bad:
        raise CatalogueError(f"{path}: {bad}") from None
