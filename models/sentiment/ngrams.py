"""What the learned sentiment model reads of a text: word and character n-grams, words after a
negation marked as such, and optionally a few scores from VADER: its four scores, or the sums
of its lexicon's valences without its rules.

Plain strings, no hashing: a hash that stays the same across processes and versions would
have to be computed in Python (Python's own `hash` is salted per process), which cost 1.7x
the n-grams themselves, and the model file can then say which n-grams weigh how.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass

from insession.models.sentiment.vader import vader_lexicon, vader_polarity

TOKEN = re.compile(r"[\w']+|[^\s\w']+")
"""Words (with their apostrophes) and runs of anything else (punctuation, emoticons)."""
REPEATS = re.compile(r"(.)\1{2,}")
LINK = re.compile(r"https?://\S+")
NEGATORS = frozenset(
    {"not", "no", "never", "nothing", "nobody", "none", "nor", "cannot", "without", "neither"}
)
CLAUSE_END = frozenset(".,!?;:")
VADER_FEATURES = ("neg", "neu", "pos", "compound")
SCORES = ("", "vader", "lexicon")
"""What `TextFeatures.scores` may add to the n-grams: nothing, VADER's four scores
(`vader:neg`, ...), or its lexicon's positive and negative valences summed, without its
rules for negation, boosters and contrast (`lexicon:pos`, `lexicon:neg`)."""


def _squashed(total: float) -> float:
    """A valence sum in (-1, 1), as VADER normalises its own (alpha 15)."""
    return total / math.sqrt(total * total + 15)


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """Which n-grams to read: words and (`word_pairs`) pairs of words, character n-grams
    of each word (with its boundaries, `<word>`) of lengths `char_min` to `char_max`, words
    after a negator until the clause ends (`negation`), and the `scores` of `SCORES`. Words
    are `w:`, pairs `b:` and negated words `n:`.

    >>> sorted(TextFeatures(char_min=4, char_max=4).grams("Not good!"))[3:]
    ['b:not good', 'good', 'n:good', 'not>', 'ood>', 'w:!', 'w:good', 'w:not']
    """

    word_pairs: bool = True
    char_min: int = 3
    char_max: int = 5
    negation: bool = True
    scores: str = ""

    def __post_init__(self) -> None:
        if self.scores not in SCORES:
            raise ValueError(f"scores: {self.scores!r} is not one of {SCORES}")

    def grams(self, text: str) -> set[str]:
        """The text's n-grams, each once (presence, not counts: a tweet is short)."""
        tokens = _tokens(text)
        grams = {"w:" + token for token in tokens}
        if self.word_pairs:
            grams.update([f"b:{a} {b}" for a, b in itertools.pairwise(tokens)])
        negated = False
        for token in tokens:
            if token[0] in CLAUSE_END:
                negated = False
                continue
            if negated:
                grams.add("n:" + token)
            if token in NEGATORS or token.endswith("n't"):
                negated = self.negation
            bounded = f"<{token}>"
            last = len(bounded)
            lengths = range(self.char_min, min(self.char_max, last - 1) + 1)
            grams.update([bounded[i : i + n] for n in lengths for i in range(last - n + 1)])
        return grams

    def scores_of(self, text: str) -> dict[str, float]:
        """The scores added to the n-grams (`scores`), by feature name.

        >>> scores = TextFeatures(scores="lexicon").scores_of("not the worst :)")
        >>> {name: round(value, 3) for name, value in scores.items()}
        {'lexicon:pos': 0.459, 'lexicon:neg': -0.625}
        """
        if self.scores == "vader":
            polarity = vader_polarity(text)
            return {f"vader:{name}": polarity[name] for name in VADER_FEATURES}
        if self.scores == "lexicon":
            lexicon = vader_lexicon()
            valences = [lexicon[t] for t in _tokens(text) if t in lexicon]
            return {
                "lexicon:pos": _squashed(sum(v for v in valences if v > 0)),
                "lexicon:neg": _squashed(sum(v for v in valences if v < 0)),
            }
        return {}

    def features(self, text: str, known: Collection[str] | None = None) -> dict[str, float]:
        """The features a linear model learns from: the n-grams (those in `known`, if given),
        each 1/sqrt(their count) so that a text's n-grams weigh 1 in all, then the scores.

        >>> features = TextFeatures().features("ok", known={"w:ok", "<ok"})
        >>> {k: round(v, 4) for k, v in sorted(features.items())}
        {'<ok': 0.7071, 'w:ok': 0.7071}
        """
        grams = self.grams(text)
        if known is not None:
            grams = {g for g in grams if g in known}
        weight = 1.0 / math.sqrt(len(grams)) if grams else 0.0
        features = dict.fromkeys(grams, weight)
        features.update(self.scores_of(text))
        return features

    def to_dict(self) -> dict[str, int | bool | str]:
        return asdict(self)


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(REPEATS.sub(r"\1\1", LINK.sub("http", text.lower())))
