"""`insession sentiment`: one score a line for each line of standard input, with the model
asked for, and plain messages for what it cannot do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEXTS = [
    "my order still has not arrived. worst delivery ever",
    "",
    "Absolutely love my new boots!",
]


def _sentiment(*args: str, stdin: str = "", env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "insession.cli", "sentiment", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("model", ["vader", "learned"])
def test_it_prints_one_score_a_line(model: str) -> None:
    done = _sentiment("--model", model, stdin="\n".join(TEXTS) + "\n")
    assert done.returncode == 0, done.stderr
    scores = [float(line) for line in done.stdout.splitlines()]
    assert len(scores) == len(TEXTS) and all(-1 <= s <= 1 for s in scores)
    assert scores[2] > 0.3
    assert (scores[0] > 0) if model == "vader" else (scores[0] < -0.3)


def test_without_a_model_it_scores_with_the_setting() -> None:
    done = _sentiment(stdin=TEXTS[0], env={"INSESSION_SENTIMENT": "vader"})
    assert done.returncode == 0 and done.stdout == "0.5096\n"


def test_training_without_the_data_says_where_it_looked(tmp_path: Path) -> None:
    done = _sentiment("train", "--out", str(tmp_path / "m.json"), "--data-dir", str(tmp_path))
    assert done.returncode == 2 and not (tmp_path / "m.json").exists()
    assert "no tweeteval-val" in done.stderr and "--data-dir" in done.stderr


@pytest.mark.data
def test_a_trained_file_scores_as_the_command_says(shared_data: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.json.gz"
    done = _sentiment(
        "train",
        *("--out", str(model), "--data-dir", str(shared_data)),
        *("--epochs", "2", "--features", "ngrams"),  # named: choosing takes minutes
    )
    assert done.returncode == 0, done.stderr
    assert f"{model}: ngrams, " in done.stdout and "from 6200 tweets" in done.stdout
    scored = _sentiment("--model-file", str(model), stdin=TEXTS[0])
    assert float(scored.stdout) < -0.3
