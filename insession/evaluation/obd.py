"""Open Bandit Dataset logs, and the offline evaluation of Bernoulli TS from the random log.

The headline question: would the Thompson-sampling policy have beaten uniform random? Both
ran live on ZOZOTOWN, so the answer can be checked: estimate BTS's click rate from the random
log alone (IPS, SNIPS, DR) and compare it with the click rate BTS actually logged.
"""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import TextIO

import numpy as np

from insession.models.off_policy import (
    Estimate,
    LoggedRounds,
    doubly_robust,
    ips,
    ratio_of_means,
    snips,
)

CAMPAIGNS = ("all", "men", "women")

POLICIES = ("random", "bts")

PUBLISHED_RATIO = 0.50 / 0.35  # Saito et al. 2021, Table 1, ALL campaign, full data


@dataclass(frozen=True, slots=True)
class ObdLog:
    """One policy's log of one campaign: a round is one item shown in one of three slots.

    `position` is 0-based (the file's 1..3 minus one) so it can index arrays directly;
    `propensity` is the logging policy's probability of that item in that slot.
    """

    item: np.ndarray
    position: np.ndarray
    click: np.ndarray
    propensity: np.ndarray
    n_items: int
    n_positions: int

    def __len__(self) -> int:
        return len(self.item)

    @property
    def ctr(self) -> float:
        """The on-policy click rate: the value the logging policy actually earned."""
        return float(self.click.mean())

    def take(self, rows: np.ndarray) -> ObdLog:
        """The same log restricted to `rows` (indices), keeping the item and slot counts."""
        return ObdLog(
            item=self.item[rows],
            position=self.position[rows],
            click=self.click[rows],
            propensity=self.propensity[rows],
            n_items=self.n_items,
            n_positions=self.n_positions,
        )


def campaign_dir(data_dir: Path, policy: str, campaign: str) -> Path:
    """Folder of one policy's log of one campaign under the shared data folder."""
    return Path(data_dir) / "obd" / policy / campaign


def load_log(data_dir: Path, policy: str, campaign: str) -> ObdLog:
    """Read `<campaign>.csv.gz`, keeping the four columns evaluation needs (no pandas)."""
    folder = campaign_dir(data_dir, policy, campaign)
    with gzip.open(folder / f"{campaign}.csv.gz", "rt", newline="") as lines:
        reader = csv.reader(lines)
        header = next(reader)
        cols = [header.index(name) for name in ("item_id", "position", "click")]
        score = header.index("propensity_score")
        ints, scores = [], []
        for row in reader:
            ints.append([int(row[c]) for c in cols])
            scores.append(float(row[score]))
    table = np.array(ints, dtype=np.int64).reshape(-1, 3)
    with open(folder / "item_context.csv", newline="") as items:
        n_items = sum(1 for _ in csv.reader(items)) - 1
    position = table[:, 1] - table[:, 1].min()
    return ObdLog(
        item=table[:, 0],
        position=position,
        click=table[:, 2].astype(float),
        propensity=np.array(scores),
        n_items=n_items,
        n_positions=int(position.max()) + 1,
    )


def policy_from_log(log: ObdLog, method: str = "frequency") -> np.ndarray:
    """A context-free policy's probabilities π(item | position), shape (n_items, n_positions).

    BTS's logged propensities change as its posterior is refreshed (hundreds of distinct
    values per item and slot over the week), so there is no single per-cell value to read.
    "frequency" uses the share of the slot's rounds that showed the item: an unbiased
    estimate of the week-averaged probability. "mean_propensity" averages the logged
    propensities, as often suggested; it is biased upwards for favoured items, because
    rounds are logged exactly when the item was likely, and its columns need not sum to one.
    """
    shape = (log.n_items, log.n_positions)
    counts = np.zeros(shape)
    np.add.at(counts, (log.item, log.position), 1.0)
    if method == "frequency":
        return counts / counts.sum(axis=0, keepdims=True)
    if method == "mean_propensity":
        sums = np.zeros(shape)
        np.add.at(sums, (log.item, log.position), log.propensity)
        return np.divide(sums, counts, out=np.zeros(shape), where=counts > 0)
    raise ValueError(f"unknown method {method!r}: frequency or mean_propensity")


def click_model(log: ObdLog, rows: np.ndarray, smoothing: float) -> np.ndarray:
    """Per-(item, slot) click rate on `rows`, shrunk towards their overall rate.

    `smoothing` is pseudo-rounds at the overall rate added to every cell; with ~20 rounds
    and almost no clicks per cell, raw rates would be mostly zeros and a few large values.
    """
    shape = (log.n_items, log.n_positions)
    shown, clicked = np.zeros(shape), np.zeros(shape)
    np.add.at(shown, (log.item[rows], log.position[rows]), 1.0)
    np.add.at(clicked, (log.item[rows], log.position[rows]), log.click[rows])
    prior = float(log.click[rows].mean())
    return (clicked + smoothing * prior) / (shown + smoothing)


@dataclass(frozen=True, slots=True)
class CampaignEvaluation:
    """BTS's click rate estimated from the random log, next to what both policies earned."""

    campaign: str
    ips: Estimate
    snips: Estimate
    dr: Estimate
    ips_mean_propensity: Estimate
    bts_on_policy: Estimate
    random_on_policy: Estimate
    ratio_off_policy: Estimate
    ratio_on_policy: Estimate
    max_weight: float


def mean_estimate(values: np.ndarray) -> Estimate:
    """A plain mean (an on-policy click rate) with the same kind of interval as the estimators."""
    return ratio_of_means(values, np.ones_like(values))


def _independent_ratio(top: Estimate, bottom: Estimate, level: float = 0.95) -> Estimate:
    """Ratio of two means from independent logs, interval by the delta method on the log scale."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    ratio = top.value / bottom.value

    def rel_se(e: Estimate) -> float:
        return (e.high - e.value) / z / e.value

    spread = z * math.hypot(rel_se(top), rel_se(bottom))
    return Estimate(ratio, ratio * math.exp(-spread), ratio * math.exp(spread), bottom.n)


def evaluate_campaign(
    data_dir: Path,
    campaign: str,
    *,
    smoothing: float = 20.0,
    seed: int = 0,
    bootstrap: int = 0,
) -> CampaignEvaluation:
    """Estimate BTS's CTR off-policy from the uniform-random log of `campaign`.

    Weights are π_BTS(item | slot) / logged propensity. DR is cross-fitted: the rounds are
    split in two seeded halves, each half is scored with the click model fitted on the
    other, so no round's reward helps predict itself.
    """
    random_log = load_log(data_dir, "random", campaign)
    bts_log = load_log(data_dir, "bts", campaign)
    options = {"bootstrap": bootstrap, "seed": seed}

    def rounds_for(policy: np.ndarray) -> LoggedRounds:
        return LoggedRounds(
            action=random_log.item,
            reward=random_log.click,
            propensity=random_log.propensity,
            target=policy[random_log.item, random_log.position],
        )

    bts = policy_from_log(bts_log, "frequency")
    rounds = rounds_for(bts)

    halves = np.random.default_rng(seed).permutation(len(random_log)) % 2 == 0
    predicted = np.empty(len(random_log))
    expected = np.empty(len(random_log))
    for scored in (halves, ~halves):
        model = click_model(random_log, np.flatnonzero(~scored), smoothing)
        slots = random_log.position[scored]
        predicted[scored] = model[random_log.item[scored], slots]
        expected[scored] = (bts * model).sum(axis=0)[slots]

    ips_value = ips(rounds, **options)
    random_ctr = mean_estimate(random_log.click)
    bts_ctr = mean_estimate(bts_log.click)
    return CampaignEvaluation(
        campaign=campaign,
        ips=ips_value,
        snips=snips(rounds, **options),
        dr=doubly_robust(rounds, predicted, expected, **options),
        ips_mean_propensity=ips(rounds_for(policy_from_log(bts_log, "mean_propensity")), **options),
        bts_on_policy=bts_ctr,
        random_on_policy=random_ctr,
        ratio_off_policy=ratio_of_means(rounds.weight * rounds.reward, rounds.reward, **options),
        ratio_on_policy=_independent_ratio(bts_ctr, random_ctr),
        max_weight=float(rounds.weight.max()),
    )


def format_percent(e: Estimate) -> str:
    """A rate as a table cell: percent with its interval, e.g. `0.504% [0.252, 0.755]`."""
    return f"{100 * e.value:.3f}% [{100 * e.low:.3f}, {100 * e.high:.3f}]"


def format_times(e: Estimate) -> str:
    """A ratio as a table cell: `1.33 [0.81, 1.84]`."""
    return f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"


def print_evaluation(results: list[CampaignEvaluation], out: TextIO) -> None:
    """A Markdown table: estimates of BTS's CTR with 95% intervals, then the on-policy truth."""
    rows = [
        ("BTS CTR, IPS (random log)", lambda r: format_percent(r.ips)),
        ("BTS CTR, SNIPS (random log)", lambda r: format_percent(r.snips)),
        ("BTS CTR, DR cross-fitted (random log)", lambda r: format_percent(r.dr)),
        ("BTS CTR, IPS with mean-propensity π", lambda r: format_percent(r.ips_mean_propensity)),
        ("BTS CTR, on-policy (bts log)", lambda r: format_percent(r.bts_on_policy)),
        ("random CTR, on-policy (random log)", lambda r: format_percent(r.random_on_policy)),
        ("BTS/random, IPS ÷ random CTR", lambda r: format_times(r.ratio_off_policy)),
        ("BTS/random, on-policy", lambda r: format_times(r.ratio_on_policy)),
        ("largest importance weight", lambda r: f"{r.max_weight:.1f}"),
    ]
    print("| quantity | " + " | ".join(r.campaign for r in results) + " |", file=out)
    print("|---" * (len(results) + 1) + "|", file=out)
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |", file=out)
    print(
        f"\nPublished full-data BTS/random ratio (ALL): {PUBLISHED_RATIO:.2f}; "
        f"rounds per log: {results[0].ips.n:,}",
        file=out,
    )
