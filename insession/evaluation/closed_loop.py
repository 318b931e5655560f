"""The closed loop: simulated shoppers answer the engine's offers, and the engine learns.

A recording cannot answer offers it never saw, so learning is shown in a loop: the seeded
simulation's events go through the engine's own steps (identity stitching, the customer step
with its feedback join, the shared model) in event-time order, each offer is answered by
`HiddenTruth` a few seconds later, and that feedback goes back in as events. Knowing the
truth, every decision is scored against the best offer among the same candidates (oracle)
and against the best fixed preference order, so learning shows as falling regret.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

from insession.operators.customer_step import Outcome, apply_routed, close_windows
from insession.operators.device_links import CustomerDevices, is_link_event, record_links
from insession.operators.identity import DeviceState, stitch_identity
from insession.operators.learning import group_of
from insession.operators.personalise import Personaliser
from insession.operators.recommendations import RecsConfig
from insession.operators.routing import (
    Routed,
    customer_key,
    device_key,
    has_device,
    person_key,
    to_customer,
)
from insession.operators.session import CustomerState
from insession.schemas.events import Event, Offer, OfferFeedback
from insession.simulator import DAY_MS, Shop, SimulationConfig, simulate
from insession.simulator.responder import HiddenTruth, offer_fit
from insession.simulator.taste import ShopperTastes, Taste


@dataclass(frozen=True, slots=True)
class ScoredDecision:
    """One offer, with the true acceptance rate of what was chosen and of what could be."""

    day: int
    group: str
    action_id: str
    chosen: float
    oracle: float
    context: tuple[str, bool, int]
    candidates: tuple[str, ...]


@dataclass
class LoopResult:
    """Every scored decision and what the shoppers answered."""

    policy: str
    model_version: str
    decisions: list[ScoredDecision] = field(default_factory=list)
    accepted: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    accepted_products: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    feedback_events: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True)
class CurveRow:
    """One day of the learning curve (acceptance rates are per offer)."""

    day: int
    offers: int
    accepted_rate: float
    expected_rate: float
    oracle_rate: float
    fixed_rate: float
    control_offers: int
    control_accepted_rate: float
    control_expected_rate: float
    regret_vs_fixed: float
    regret_vs_oracle: float


class _Loop:
    """The flow's keyed steps, one event at a time, with the same routing and step functions
    (`flows/personalise.py`): links per customer, stitching per device, the customer step."""

    def __init__(self, engine: Personaliser) -> None:
        self.engine = engine
        self.links: dict[str, CustomerDevices] = {}
        self.devices: dict[str, DeviceState] = {}
        self.people: dict[str, CustomerState] = {}

    def route(self, item: Routed) -> list[Routed]:
        """The events for the customer step, in the order the flow applies them."""
        out: list[Routed] = []
        if is_link_event(item):
            for forget in self._links(Routed(item.event, item.order)):
                out.extend(self._stitch(forget))
        if has_device(item):
            out.extend(self._stitch(item))
        else:
            out.append(to_customer(item))
        return out

    def _links(self, item: Routed) -> list[Routed]:
        key = customer_key(item)
        state, forgets = record_links(self.links.get(key), item)
        _keep(self.links, key, state)
        return forgets

    def _stitch(self, item: Routed) -> list[Routed]:
        key = device_key(item)
        state, routed = stitch_identity(self.devices.get(key), item)
        _keep(self.devices, key, state)
        return [r for r in routed if isinstance(r, Routed)]

    def step(self, item: Routed) -> list[Outcome]:
        key = person_key(item)
        state, outcomes = apply_routed(self.engine, self.people.get(key), item, shelve=False)
        _keep(self.people, key, state)
        return outcomes

    def close_all(self) -> list[Outcome]:
        """The end of input, as in a replay: every pending decision closes."""
        closed: list[Outcome] = []
        for state in self.people.values():
            closed.extend(close_windows(self.engine, state, None)[1])
        return closed


S = TypeVar("S")


def _keep(states: dict[str, S], key: str, state: S | None) -> None:
    """A step's new state for `key` (None: the step dropped it, as Bytewax would)."""
    if state is None:
        states.pop(key, None)
    else:
        states[key] = state


def _events(config: SimulationConfig) -> Iterator[Event]:
    return (item for item in simulate(config) if isinstance(item, Event))


def run_closed_loop(
    config: SimulationConfig, engine: Personaliser, truth: HiddenTruth
) -> LoopResult:
    """Run the simulation through the engine, answering every offer from `truth`."""
    loop = _Loop(engine)
    tastes = ShopperTastes(Shop(config))
    result = LoopResult(engine.model.name, engine.model.version)
    start = config.start_ms
    sequence = itertools.count()
    queue: list[tuple[int, int, Event]] = []
    simulated = _events(config)
    upcoming = next(simulated, None)
    while upcoming is not None or queue:
        if queue and (upcoming is None or queue[0][0] <= upcoming.event_time):
            event = heapq.heappop(queue)[2]
            result.feedback_events += 1
        else:
            assert upcoming is not None
            event, upcoming = upcoming, next(simulated, None)
            tastes.observe(event)
        result.events += 1
        order = (event.event_time, "loop", 0, next(sequence))
        for routed in loop.route(Routed(event, order)):
            for outcome in loop.step(routed):
                engine.model.learn(outcome.examples)
                if outcome.offer is not None:
                    taste = tastes.of(outcome.offer)
                    answers = truth.respond(outcome.offer, taste)
                    _score(result, truth, outcome, start, answers, taste)
                    for answer in answers:
                        heapq.heappush(queue, (answer.event_time, next(sequence), answer))
    for outcome in loop.close_all():
        engine.model.learn(outcome.examples)
    result.model_version = engine.model.version
    return result


def _score(
    result: LoopResult,
    truth: HiddenTruth,
    outcome: Outcome,
    start: int,
    answers: list[OfferFeedback],
    taste: Taste | None,
) -> None:
    offer: Offer = outcome.offer  # type: ignore[assignment]
    known = offer.customer_id is not None
    context = (offer.channel, known, offer.decided_at)
    chosen = truth.acceptance(offer.action_id, *context, offer_fit(offer, taste))
    candidates = outcome.candidates or (offer.action_id,)
    # the other candidates' items are unknown: they count without them
    oracle = max(
        chosen if action == offer.action_id else truth.acceptance(action, *context)
        for action in candidates
    )
    day = (offer.decided_at - start) // DAY_MS
    group = group_of(offer.model_version)
    result.decisions.append(
        ScoredDecision(day, group, offer.action_id, chosen, oracle, context, candidates)
    )
    if any(answer.outcome == "accepted" for answer in answers):
        result.accepted[(day, group)] += 1
        if offer.kind == "product":
            result.accepted_products[(day, group)] += 1


def best_fixed_order(result: LoopResult, truth: HiddenTruth) -> list[str]:
    """Offers in order of their mean true acceptance over every context they were offered
    in: the best policy that ignores context, the standard a learner is measured against."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for decision in result.decisions:
        for action in decision.candidates:
            sums[action] += truth.acceptance(action, *decision.context)
            counts[action] += 1
    return sorted(sums, key=lambda a: (-sums[a] / counts[a], a))


def learning_curve(result: LoopResult, truth: HiddenTruth) -> list[CurveRow]:
    """Per day: acceptance of the policy's offers (seen and expected), the oracle's, the
    best fixed order's, the control group's, and the policy's cumulative regret."""
    order = {action: rank for rank, action in enumerate(best_fixed_order(result, truth))}
    rows: list[CurveRow] = []
    regret_fixed = regret_oracle = 0.0
    days = sorted({d.day for d in result.decisions})
    for day in days:
        policy = [d for d in result.decisions if d.day == day and d.group == "policy"]
        control = [d for d in result.decisions if d.day == day and d.group == "control"]
        fixed = [
            truth.acceptance(min(d.candidates, key=order.__getitem__), *d.context) for d in policy
        ]
        regret_fixed += sum(fixed) - sum(d.chosen for d in policy)
        regret_oracle += sum(d.oracle - d.chosen for d in policy)
        rows.append(
            CurveRow(
                day=day + 1,
                offers=len(policy),
                accepted_rate=_rate(result.accepted[(day, "policy")], len(policy)),
                expected_rate=_mean([d.chosen for d in policy]),
                oracle_rate=_mean([d.oracle for d in policy]),
                fixed_rate=_mean(fixed),
                control_offers=len(control),
                control_accepted_rate=_rate(result.accepted[(day, "control")], len(control)),
                control_expected_rate=_mean([d.chosen for d in control]),
                regret_vs_fixed=regret_fixed,
                regret_vs_oracle=regret_oracle,
            )
        )
    return rows


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """One policy's run of the closed loop and its learning curve."""

    policy: str
    model_version: str
    curve: list[CurveRow]
    seconds: float
    events: int


def compare_policies(
    config: SimulationConfig,
    policies: list[str],
    load: Callable[[str], Personaliser],
    *,
    truth_seed: int = 0,
    truth_strength: float = 1.5,
) -> list[PolicyRun]:
    """The same shoppers and the same hidden truth under each policy, one after another."""
    runs = []
    for policy in policies:
        engine = load(policy)
        truth = HiddenTruth.draw(engine.catalogue.offers, truth_seed, truth_strength)
        started = time.perf_counter()
        result = run_closed_loop(config, engine, truth)
        seconds = time.perf_counter() - started
        runs.append(
            PolicyRun(
                policy, result.model_version, learning_curve(result, truth), seconds, result.events
            )
        )
    return runs


@dataclass(frozen=True, slots=True)
class RecommenderRun:
    """Product offers made in one run of the loop, and how shoppers took them."""

    recommender: str
    offers: int
    expected_rate: float
    """Mean true acceptance of the product offers made (their items included)."""
    accepted: int
    """Product offers the simulated shoppers accepted."""
    by_action: dict[str, tuple[int, float]]
    """action id -> (offers, mean true acceptance)."""


def compare_recommenders(
    config: SimulationConfig,
    load: Callable[[RecsConfig], Personaliser],
    *,
    truth_seed: int = 0,
    truth_strength: float = 1.5,
) -> list[RecommenderRun]:
    """The same shoppers and truth, product offers filled by the learned item knowledge, then
    by popularity alone (`RecsConfig.strategy_override="trending"`, same filters)."""
    runs = []
    popularity = RecsConfig(strategy_override="trending")
    for name, recs in (("learned", RecsConfig()), ("popularity", popularity)):
        engine = load(recs)
        truth = HiddenTruth.draw(engine.catalogue.offers, truth_seed, truth_strength)
        result = run_closed_loop(config, engine, truth)
        products = {o.action_id for o in engine.catalogue.offers if o.kind == "product"}
        made = [d for d in result.decisions if d.action_id in products and d.group == "policy"]
        by_action: dict[str, list[float]] = defaultdict(list)
        for decision in made:
            by_action[decision.action_id].append(decision.chosen)
        runs.append(
            RecommenderRun(
                name,
                len(made),
                _mean([d.chosen for d in made]),
                sum(
                    count
                    for (_, group), count in result.accepted_products.items()
                    if group == "policy"
                ),
                {a: (len(r), _mean(r)) for a, r in sorted(by_action.items())},
            )
        )
    return runs


def print_recommender_runs(runs: list[RecommenderRun], out: TextIO) -> None:
    """Product offers, their mean true acceptance and the accepted ones, per recommender."""
    out.write("\nproduct offers: items from the learned knowledge vs popularity alone\n")
    for run in runs:
        out.write(
            f"  {run.recommender:<11} {run.offers:>7,} product offers, expected acceptance "
            f"{run.expected_rate:6.2%}, accepted {run.accepted:,}\n"
        )
        for action, (offers, rate) in run.by_action.items():
            out.write(f"      {action:<22}{offers:>7,}  {rate:6.2%}\n")


def print_learning_curves(runs: list[PolicyRun], out: TextIO) -> None:
    """Per day and policy: offers, acceptance seen and expected (true rates), the oracle's and
    the best fixed order's, the control group's, and the regret per 1,000 offers that day."""
    out.write(
        "\nlearning curve (closed loop: simulated shoppers answer from hidden true rates)\n"
        "  accept = accepted/offers seen (known customers answer); expected = mean true rate\n"
        "  of the offers chosen; oracle = best candidate each time; fixed = best context-free\n"
        "  order; regret = (fixed - expected) per 1,000 offers that day\n\n"
    )
    header = (
        f"  {'policy':<15}{'day':>4}{'offers':>8}{'accept':>8}{'expected':>10}{'oracle':>8}"
        f"{'fixed':>8}{'regret':>8}   {'control: offers':>15}{'expected':>10}\n"
    )
    out.write(header)
    for run in runs:
        previous = 0.0
        for row in run.curve:
            daily = row.regret_vs_fixed - previous
            previous = row.regret_vs_fixed
            per_thousand = 1000 * daily / row.offers if row.offers else 0.0
            out.write(
                f"  {run.policy:<15}{row.day:>4}{row.offers:>8,}{row.accepted_rate:>8.1%}"
                f"{row.expected_rate:>10.2%}{row.oracle_rate:>8.2%}{row.fixed_rate:>8.2%}"
                f"{per_thousand:>8.1f}   {row.control_offers:>15,}"
                f"{row.control_expected_rate:>10.2%}\n"
            )
        last = run.curve[-1] if run.curve else None
        if last is not None:
            out.write(
                f"  {run.policy:<15}cumulative regret vs fixed {last.regret_vs_fixed:,.1f}, "
                f"vs oracle {last.regret_vs_oracle:,.1f} accepted offers; model "
                f"{run.model_version}; {run.events:,} events in {run.seconds:.1f} s\n\n"
            )
