"""The Open Bandit Dataset loader and the offline evaluation of BTS, on the real sample."""

from __future__ import annotations

import argparse
import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from insession.obd import (
    CAMPAIGNS,
    POLICIES,
    add_evaluate_command,
    campaign_dir,
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
