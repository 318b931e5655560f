"""Counts gathered from the flow's outcomes while it runs, for the replay report."""

from __future__ import annotations

import resource
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from insession.operators.customer_step import EVICTED, REWARD_WINDOW, Outcome
from insession.operators.learning import group_of
from insession.schemas.events import Offer


@dataclass
class ReplayStats:
    """Counts gathered from the flow's outcomes, safe to feed from several worker threads."""

    journey_length: int = 12
    events: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    offers_by_kind: Counter[str] = field(default_factory=Counter)
    offers_by_action: Counter[str] = field(default_factory=Counter)
    offers_by_strategy: Counter[str] = field(default_factory=Counter)
    """Product offers by the strategy that filled their items (or the catalogue's own)."""
    shelf_items: Counter[str] = field(default_factory=Counter)
    """Items put on "for you" shelves, by the strategy that recommended each."""
    reasons: Counter[str] = field(default_factory=Counter)
    offers_per_person: Counter[str] = field(default_factory=Counter)
    learning: Counter[str] = field(default_factory=Counter)
    """Closed decisions by `group: outcome` (e.g. `policy: accepted`)."""
    withdrawals: Counter[str] = field(default_factory=Counter)
    """Offers withdrawn, by reason (e.g. `consent_revoked`)."""
    journeys: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    erasures: int = 0
    devices_stitched: int = 0
    duplicates: int = 0
    """Events dropped as redeliveries (not counted in `events`)."""
    alive: set[str] = field(default_factory=set)
    """People the customer step holds state for now (erased and merged devices leave)."""
    people_in_memory_elsewhere: int = 0
    """Of other processes' stats absorbed: the people they held at the end."""
    max_rss_bytes: int = 0
    """The largest resident set of the processes whose stats these are (at `save`/`finish`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    _COUNTERS = (
        "events",
        "decisions",
        "offers_by_kind",
        "offers_by_action",
        "offers_by_strategy",
        "shelf_items",
        "reasons",
        "offers_per_person",
        "learning",
        "withdrawals",
    )

    def save(self, path: Path) -> None:
        """Write the counts as JSON, for the process that joins a cluster's results."""
        document = {name: dict(getattr(self, name)) for name in self._COUNTERS}
        self.finish()
        document.update(
            journeys=dict(self.journeys),
            erasures=self.erasures,
            devices_stitched=self.devices_stitched,
            duplicates=self.duplicates,
            people_in_memory=self.people_in_memory,
            max_rss_bytes=self.max_rss_bytes,
        )
        path.write_bytes(orjson.dumps(document))

    @classmethod
    def load(cls, path: Path) -> ReplayStats:
        document = orjson.loads(path.read_bytes())
        stats = cls()
        for name in cls._COUNTERS:
            getattr(stats, name).update(document.get(name, {}))
        stats.journeys.update(document["journeys"])
        stats.erasures = document["erasures"]
        stats.devices_stitched = document["devices_stitched"]
        stats.duplicates = document["duplicates"]
        stats.people_in_memory_elsewhere = document.get("people_in_memory", 0)
        stats.max_rss_bytes = document.get("max_rss_bytes", 0)
        return stats

    @property
    def people_in_memory(self) -> int:
        return len(self.alive) + self.people_in_memory_elsewhere

    def finish(self) -> None:
        """Record this process's peak resident memory so far."""
        self.max_rss_bytes = max(self.max_rss_bytes, peak_rss_bytes())

    def absorb(self, other: ReplayStats) -> None:
        """Add another process's counts (its shoppers are not ours: keys are partitioned)."""
        for name in self._COUNTERS:
            getattr(self, name).update(getattr(other, name))
        self.journeys.update(other.journeys)
        self.erasures += other.erasures
        self.devices_stitched += other.devices_stitched
        self.duplicates += other.duplicates
        self.people_in_memory_elsewhere += other.people_in_memory
        self.max_rss_bytes = max(self.max_rss_bytes, other.max_rss_bytes)

    def add(self, outcomes: list[Outcome]) -> None:
        with self._lock:
            for outcome in outcomes:
                for example in outcome.examples:
                    self.learning[f"{group_of(example.model_version)}: {example.outcome}"] += 1
                if outcome.erased or outcome.evicted:
                    self.alive.discard(outcome.person)
                elif outcome.state is not None:
                    self.alive.add(outcome.person)
                if outcome.event_type in (REWARD_WINDOW, EVICTED):
                    continue  # a timer, not an event
                if outcome.erased and outcome.event_type != "erasure_request":
                    self.devices_stitched += 1  # a device's state handed to its customer
                    continue
                if outcome.duplicate:
                    # A replayed one was counted when the device's own person dropped it.
                    self.duplicates += outcome.decision_reason != "replayed"
                    continue
                self.withdrawals.update(w.reason for w in outcome.withdrawals)
                if outcome.decision_reason != "replayed":
                    self.events[outcome.event_type] += 1  # input events, counted once
                if outcome.erased:
                    self.erasures += 1
                    continue
                self.decisions[outcome.decision_reason or "none"] += 1
                if outcome.shelf:
                    self.shelf_items.update(r.strategy for r in outcome.shelf)
                journey = self.journeys[outcome.person]
                step = outcome.event_type
                if outcome.offer is not None:
                    offer = outcome.offer
                    self.offers_by_kind[offer.kind] += 1
                    self.offers_by_action[offer.action_id] += 1
                    if offer.kind == "product":
                        self.offers_by_strategy[_strategy_of(offer)] += 1
                    self.reasons.update(offer.reason_codes)
                    self.offers_per_person[outcome.person] += 1
                    shown = f" {list(offer.items[:3])}" if offer.items else ""
                    step += f" => OFFER {offer.action_id}{shown} ({offer.reason_codes[0]})"
                if outcome.withdrawals:
                    step += f" => WITHDRAW {len(outcome.withdrawals)} offer(s)"
                if outcome.shelf:
                    step += f" => SHELF {[r.item for r in outcome.shelf[:3]]}"
                if len(journey) < self.journey_length:
                    journey.append(step)


def _strategy_of(offer: Offer) -> str:
    """The strategy that filled a product offer, or where its items came from."""
    for code in offer.reason_codes:
        if code.startswith("strategy:"):
            return code.removeprefix("strategy:")
    return "catalogue's fixed items" if offer.items else "no items"


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports kibibytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
