"""Posts without a score get one from their text, by the scorer the flow was given."""

from __future__ import annotations

from insession.models.sentiment.vader import vader_score
from insession.operators.sentiment import with_score
from insession.schemas.events import SocialPost

POST = SocialPost(
    event_id="p",
    event_time=1_764_000_000_000,
    channel="instagram",
    platform="instagram",
    author_handle="@a",
    text="I love this jacket, best purchase ever!",
)


def test_posts_without_a_score_get_one_from_their_text() -> None:
    scored = with_score(POST, vader_score)
    assert scored.score is not None and scored.score > 0.5
    assert scored.text == POST.text and scored.event_id == POST.event_id
    assert with_score(scored, vader_score) is scored


def test_the_scorer_given_is_the_one_used_and_its_score_is_kept_in_range() -> None:
    assert with_score(POST, lambda text: -0.123456).score == -0.1235
    assert with_score(POST, lambda text: 3.0).score == 1.0
    untexted = SocialPost(event_id="q", event_time=1, channel="other", platform="x")
    assert with_score(untexted, lambda text: 0.5).score is None
