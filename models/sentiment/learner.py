"""Training the learned sentiment model with River: one-vs-rest logistic regression over
n-grams, a few shuffled passes over labelled texts, and the weights exported as a
`LearnedSentiment`."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from insession.models.sentiment.labels import LABELS, most_probable, polarity
from insession.models.sentiment.linear import LearnedSentiment
from insession.models.sentiment.ngrams import TextFeatures
from river import linear_model, multiclass, optim

LabelledText = tuple[str, str]
"""(text, one of `LABELS`)."""


FEATURE_CHOICES: dict[str, TextFeatures] = {
    "ngrams": TextFeatures(),
    "ngrams+vader": TextFeatures(scores="vader"),
    "ngrams+lexicon": TextFeatures(scores="lexicon"),
}
"""What the model may read, by name: the n-grams alone, with VADER's four scores, or with its
lexicon's valence sums. Which one is chosen by cross-validation on the training data
(`insession.evaluation.sentiment.choose_features`)."""


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """How the model is trained: fixed before the held-out figures were looked at
    (docs/sentiment.md says how they were chosen)."""

    features: TextFeatures = field(default_factory=TextFeatures)
    epochs: int = 10
    learning_rate: float = 0.5
    l2: float = 0.0
    min_count: int = 2
    """n-grams in fewer training texts than this are not learned (nor kept in the file)."""
    balanced: bool = True
    """Weigh each class's examples by N / (3 n_class): macro recall counts classes alike."""
    seed: int = 0


class SentimentLearner:
    """River's `OneVsRestClassifier(LogisticRegression)` on a text's n-grams, with the
    vocabulary of n-grams it learns fixed up front (`vocabulary`).

    >>> learner = SentimentLearner(TrainingConfig())
    >>> learner.vocabulary = {"w:love", "w:hate"}
    >>> for _ in range(20):
    ...     learner.learn_one("I love it", "positive")
    ...     learner.learn_one("I hate it", "negative")
    ...     learner.learn_one("it is a shoe", "neutral")
    >>> learner.predict_one("love")
    'positive'
    """

    def __init__(self, config: TrainingConfig) -> None:
        self.config = config
        self.vocabulary: set[str] | None = None
        self.model = multiclass.OneVsRestClassifier(
            linear_model.LogisticRegression(optimizer=optim.SGD(config.learning_rate), l2=config.l2)
        )
        for label in LABELS:  # every class has its classifier, in the order of LABELS
            self.model.classifiers[label] = self.model.classifier.clone()

    def features(self, text: str) -> dict[str, float]:
        return self.config.features.features(text, self.vocabulary)

    def learn_one(self, text: str, label: str, w: float = 1.0) -> None:
        self.model.learn_one(self.features(text), label, w=w)

    def predict_proba_one(self, text: str) -> dict[str, float]:
        return self.model.predict_proba_one(self.features(text))

    def predict_one(self, text: str) -> str:
        return most_probable(self.predict_proba_one(text))

    def score(self, text: str) -> float:
        return polarity(self.predict_proba_one(text))

    def export(self, trained_on: str = "") -> LearnedSentiment:
        """The weights as the shipped model holds them (an n-gram no class weighs is left
        out)."""
        classifiers = [self.model.classifiers[label] for label in LABELS]
        columns = [c.weights for c in classifiers]
        names = set().union(*columns)
        weights = {
            name: (columns[0].get(name, 0.0), columns[1].get(name, 0.0), columns[2].get(name, 0.0))
            for name in names
        }
        return LearnedSentiment(
            features=self.config.features,
            weights={n: row for n, row in weights.items() if any(row)},
            intercepts=(
                classifiers[0].intercept,
                classifiers[1].intercept,
                classifiers[2].intercept,
            ),
            trained_on=trained_on,
        )


def vocabulary(texts: Sequence[str], features: TextFeatures, min_count: int) -> set[str]:
    """The n-grams that occur in at least `min_count` of `texts`."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(features.grams(text))
    return {gram for gram, count in counts.items() if count >= min_count}


def fit(examples: Sequence[LabelledText], config: TrainingConfig) -> SentimentLearner:
    """A learner trained on `examples`: `config.epochs` passes in a seeded shuffled order,
    each class weighed by `config.balanced`."""
    learner = SentimentLearner(config)
    learner.vocabulary = vocabulary([t for t, _ in examples], config.features, config.min_count)
    counts = Counter(label for _, label in examples)
    weight = {
        label: len(examples) / (len(counts) * n) if config.balanced else 1.0
        for label, n in counts.items()
    }
    # Sorted: River sums in the order features come, and a set's order changes per process.
    rows = [(dict(sorted(learner.features(text).items())), label) for text, label in examples]
    rng = random.Random(config.seed)
    order = list(range(len(rows)))
    for _ in range(config.epochs):
        rng.shuffle(order)
        for i in order:
            x, label = rows[i]
            learner.model.learn_one(x, label, w=weight[label])
    return learner


def describe(config: TrainingConfig, sources: dict[str, int]) -> str:
    """A line saying what a model was trained on and how, kept in its file."""
    data = ", ".join(f"{name} ({n} texts)" for name, n in sources.items())
    settings = ", ".join(f"{k}={v}" for k, v in asdict(config).items() if k != "features")
    return f"{data}; {settings}"
