"""The learned sentiment model as it is shipped and used: per-class weights of n-grams (and of
VADER's scores), read from a JSON file in the package and scored in plain Python.

The file holds the weights and the feature configuration, not a pickled River object, so that
it loads the same whatever River version is installed (`models.sentiment.learner` trains it).
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from insession.models.sentiment.labels import LABELS, most_probable, polarity
from insession.models.sentiment.ngrams import TextFeatures

PACKAGED = "learned.json.gz"
"""The model file shipped in this package (`insession sentiment train` writes it)."""
FORMAT = "insession.sentiment.linear/1"


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class LearnedSentiment:
    """One-vs-rest logistic regression over a text's n-grams: each class's probability is its
    sigmoid over the sum of the three (as River's `OneVsRestClassifier` has it); the score is
    P(positive) - P(negative), in [-1, 1].

    >>> model = LearnedSentiment.packaged()
    >>> model("my order still has not arrived. worst delivery ever") < -0.3
    True
    """

    features: TextFeatures
    weights: dict[str, tuple[float, float, float]]
    """n-gram (or score, `TextFeatures.scores_of`) -> its weight for each of `LABELS`."""
    intercepts: tuple[float, float, float]
    trained_on: str = ""
    """What it was learned from (the data, the training settings): read by people."""

    def predict_proba_one(self, text: str) -> dict[str, float]:
        """The probability of each of `LABELS`."""
        weights = self.weights
        negative = neutral = positive = 0.0
        found = 0
        for gram in self.features.grams(text):
            row = weights.get(gram)
            if row is not None:
                negative += row[0]
                neutral += row[1]
                positive += row[2]
                found += 1
        scale = 1.0 / math.sqrt(found) if found else 0.0
        logits = [
            b + scale * total
            for b, total in zip(self.intercepts, (negative, neutral, positive), strict=True)
        ]
        for name, value in self.features.scores_of(text).items():
            row = weights.get(name)
            if row is not None:
                logits = [z + w * value for z, w in zip(logits, row, strict=True)]
        votes = [_sigmoid(z) for z in logits]
        total = sum(votes)
        return {label: vote / total for label, vote in zip(LABELS, votes, strict=True)}

    def predict_one(self, text: str) -> str:
        """The most probable of `LABELS`."""
        return most_probable(self.predict_proba_one(text))

    def __call__(self, text: str) -> float:
        """P(positive) - P(negative): the score the flow keeps for a post."""
        return polarity(self.predict_proba_one(text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "labels": list(LABELS),
            "features": self.features.to_dict(),
            "intercepts": [round(b, 6) for b in self.intercepts],
            "trained_on": self.trained_on,
            "weights": {g: [round(w, 4) for w in row] for g, row in sorted(self.weights.items())},
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> LearnedSentiment:
        if document.get("format") != FORMAT or tuple(document["labels"]) != LABELS:
            raise ValueError(f"not a {FORMAT} model with labels {', '.join(LABELS)}")
        return cls(
            features=TextFeatures(**document["features"]),
            weights={g: (row[0], row[1], row[2]) for g, row in document["weights"].items()},
            intercepts=tuple(document["intercepts"]),  # type: ignore[arg-type]
            trained_on=document.get("trained_on", ""),
        )

    def save(self, path: Path) -> None:
        """Write the model as JSON, gzipped when the name ends in `.gz`."""
        data = orjson.dumps(self.to_dict())
        path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)

    @classmethod
    def load(cls, path: Path) -> LearnedSentiment:
        data = path.read_bytes()
        return cls.from_dict(orjson.loads(gzip.decompress(data) if path.suffix == ".gz" else data))

    @staticmethod
    @cache
    def packaged() -> LearnedSentiment:
        """The model shipped with insession, read once per process."""
        with resources.as_file(resources.files("insession.models.sentiment") / PACKAGED) as path:
            return LearnedSentiment.load(path)
