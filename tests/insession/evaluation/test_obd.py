"""The Open Bandit Dataset loader and the offline evaluation of BTS, on the real sample."""

from __future__ import annotations

import argparse
import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from insession.cli.evaluate import add_evaluate_command
from insession.evaluation.learned_policy import (
    LEARNER_LABELS,
    LEARNERS,
    ObdContext,
    evaluate_learned,
    load_context,
    make_learner,
    round_features,
    score_policy,
    target_matrix,
    time_split,
    train_policy,
)
from insession.evaluation.obd import (
    CAMPAIGNS,
    POLICIES,
    ObdLog,
    campaign_dir,
    click_model,
    evaluate_campaign,
    load_log,
    policy_from_log,
)
from insession.settings import Settings


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="insession")
    add_evaluate_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["evaluate", *argv])


def test_unknown_campaign_or_missing_data_is_an_exit_code(tmp_path: Path) -> None:
    args = parse(["kids"])
    assert args.run(args, Settings(data_dir=tmp_path)) == 2
    args = parse([])
    assert args.run(args, Settings(data_dir=tmp_path)) == 2


@pytest.mark.data
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_loader_reads_every_round(shared_data: Path, policy: str, campaign: str) -> None:
    log = load_log(shared_data, policy, campaign)
    assert len(log) == 10_000
    assert set(np.unique(log.click)) == {0.0, 1.0}
    assert np.all((log.propensity > 0) & (log.propensity <= 1))
    assert set(np.unique(log.position)) == {0, 1, 2}
    assert log.item.min() >= 0 and log.item.max() < log.n_items
    if policy == "random":  # uniform over the campaign's items
        assert np.allclose(log.propensity, 1 / log.n_items)


@pytest.mark.data
@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_bts_policy_is_a_distribution_per_slot(shared_data: Path, campaign: str) -> None:
    bts = load_log(shared_data, "bts", campaign)
    assert np.allclose(policy_from_log(bts).sum(axis=0), 1.0)
    # Logged propensities over-represent the rounds where an item was likely.
    assert np.all(policy_from_log(bts, "mean_propensity").sum(axis=0) > 1.0)


def file_ctr(path: Path) -> float:
    with gzip.open(path, "rt", newline="") as lines:
        clicks = [int(row["click"]) for row in csv.DictReader(lines)]
    return sum(clicks) / len(clicks)


@pytest.mark.data
@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_bts_value_estimated_from_the_random_log(shared_data: Path, campaign: str) -> None:
    result = evaluate_campaign(shared_data, campaign)
    for estimate in (result.ips, result.snips, result.dr, result.ratio_off_policy):
        assert estimate.value > 0
        assert math.isfinite(estimate.low) and math.isfinite(estimate.high)
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.n == 10_000
    for policy, on_policy in (("bts", result.bts_on_policy), ("random", result.random_on_policy)):
        path = campaign_dir(shared_data, policy, campaign) / f"{campaign}.csv.gz"
        assert on_policy.value == pytest.approx(file_ctr(path))
    # The ratio is IPS over the random CTR from the same rounds.
    ratio = result.ips.value / result.random_on_policy.value
    assert result.ratio_off_policy.value == pytest.approx(ratio)


@pytest.mark.data
def test_cli_prints_the_table(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["all", "--data-dir", str(shared_data)])
    assert args.run(args, Settings()) == 0
    out = capsys.readouterr().out
    assert "BTS CTR, IPS (random log)" in out and "| all |" in out
    assert "## Learned policies: trained on the first 60%" in out
    assert "linear Thompson: CTR, IPS" in out and "ε-greedy 0.1: ÷ BTS" in out
    args = parse(["all", "--data-dir", str(shared_data), "--no-learned"])
    assert args.run(args, Settings()) == 0
    assert "Learned policies" not in capsys.readouterr().out


def test_cli_rejects_a_train_share_outside_zero_and_one() -> None:
    for share in ("0", "1", "1.5", "most"):
        with pytest.raises(SystemExit):
            parse(["--train-share", share])
    assert parse(["--train-share", "0.7"]).train_share == 0.7
    assert parse([]).learned and not parse(["--no-learned"]).learned


# A synthetic uniform-random log whose best arm depends on the user's segment.
CTR = {"a": np.array([0.05, 0.05, 0.50, 0.05, 0.05]), "b": np.array([0.05, 0.05, 0.05, 0.05, 0.40])}


def synthetic_log(n: int = 5_000, seed: int = 7) -> tuple[ObdLog, ObdContext, np.ndarray]:
    """Uniform logging over 5 items in one slot; returns the log, its context and true CTRs."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["a", "b"], size=n)
    item = rng.integers(0, 5, size=n)
    truth = np.array([CTR[s] for s in segment])
    click = (rng.random(n) < truth[np.arange(n), item]).astype(float)
    log = ObdLog(item, np.zeros(n, dtype=np.int64), click, np.full(n, 0.2), 5, 1)
    context = ObdContext(
        timestamp=np.arange(n, dtype=float),
        user=segment.astype(object).reshape(-1, 1),
        columns=("segment",),
        affinity=np.zeros((n, 5)),
    )
    return log, context, truth


def test_time_split_keeps_time_order_and_simultaneous_rounds_together() -> None:
    stamps = np.array([5.0, 1.0, 3.0, 3.0, 3.0, 2.0, 9.0, 7.0, 8.0, 4.0])
    train, test = time_split(stamps, 0.3)
    assert set(train).isdisjoint(test) and sorted([*train, *test]) == list(range(10))
    assert stamps[train].max() < stamps[test].min()
    assert stamps[train].tolist() == [1.0, 2.0, 3.0, 3.0, 3.0]  # the 3.0s are not split
    assert np.all(np.diff(stamps[test]) >= 0)
    for share in (0.0, 1.0, 0.99):
        with pytest.raises(ValueError, match="train share"):
            time_split(stamps, share)


@pytest.mark.parametrize("learner", LEARNERS)
def test_learned_policy_beats_uniform_and_its_value_is_recovered(learner: str) -> None:
    log, context, truth = synthetic_log()
    train, test = time_split(context.timestamp, 0.6)
    features = [round_features(context, r, 0) for r in range(len(log))]
    policy = make_learner(learner, float(log.click[train].mean()), seed=1)
    train_policy(policy, log, features, train)
    target = target_matrix(policy, features, test, log.n_items)
    assert np.allclose(target.sum(axis=1), 1.0) and np.all(target >= 0)

    held_out = log.take(test)
    score = score_policy(learner, held_out, target, click_model(log, train, 20.0))
    true_value = float((target * truth[test]).sum(axis=1).mean())
    uniform_value = float(truth[test].mean())
    # It learned the segment's best item: clearly better than uniform, by its own interval.
    assert true_value > 2 * uniform_value
    assert score.ips.low > uniform_value
    assert score.ips.contains(true_value) and score.dr.contains(true_value)
    assert score.vs_random.low > 1.0
    assert score.ips.n == len(test) == 2_000


def test_target_matrix_rejects_a_wrong_shape() -> None:
    log, _, _ = synthetic_log(n=100)
    with pytest.raises(ValueError, match="target has shape"):
        score_policy("x", log, np.full((100, 4), 0.25), np.full((5, 1), 0.1))


@pytest.mark.data
def test_learned_policies_scored_on_the_real_held_out_rounds(shared_data: Path) -> None:
    context = load_context(shared_data, "random", "men")
    assert np.all(np.diff(context.timestamp) >= 0)  # the file is in time order
    result = evaluate_learned(shared_data, "men", train_share=0.6)
    assert result.train_rounds + result.test_rounds == 10_000
    assert result.train_rounds == pytest.approx(6_000, abs=5)
    assert [p.name for p in result.policies] == [*LEARNER_LABELS.values(), "BTS"]
    for policy in result.policies:
        estimates = [policy.ips, policy.snips, policy.dr, policy.vs_random]
        estimates += [policy.vs_bts] if policy.vs_bts is not None else []
        for estimate in estimates:
            assert all(math.isfinite(v) for v in (estimate.value, estimate.low, estimate.high))
            assert estimate.low <= estimate.value <= estimate.high
        assert policy.ips.n == result.test_rounds
        assert 1.0 <= policy.effective_rounds <= result.test_rounds
    for on_policy in (result.random_on_policy, result.bts_on_policy):
        assert on_policy.low <= on_policy.value <= on_policy.high
