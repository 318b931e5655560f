"""to_dead_letter: every dead letter fits the message limit, whatever it wraps, and says when
its original was cut."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from insession.models.sentiment.vader import vader_score
from insession.operators.dead_letters import to_dead_letter
from insession.operators.routing import Inbound, decode_inbound
from insession.schemas.codec import DEFAULT_MAX_BYTES, Rejection, decode, encode
from insession.schemas.events import DeadLetter

T0 = 1_764_000_000_000
BAD = Rejection("invalid_json", None, "not valid JSON: unexpected character")


def _letter(raw: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES, **kw: object) -> DeadLetter:
    return to_dead_letter(
        raw,
        kw.pop("rejection", BAD),  # type: ignore[arg-type]
        source="shop.clickstream",
        partition=3,
        offset=1_234_567,
        stage="decode",
        failed_at=T0,
        max_bytes=max_bytes,
    )


def test_a_small_message_is_kept_whole() -> None:
    letter = _letter(b"{not json")
    assert base64.b64decode(letter.original) == b"{not json"
    assert letter.original_bytes == 9 and not letter.truncated


@pytest.mark.parametrize("size", [800_000, 1_000_000, 1_048_576, 1_048_577, 5_000_000])
def test_a_message_near_or_over_the_limit_makes_a_dead_letter_that_fits_it(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    letter = _letter(raw)
    wire = encode(letter)
    assert len(wire) <= DEFAULT_MAX_BYTES
    assert len(wire) > DEFAULT_MAX_BYTES - 8, "no more is cut than must be"
    kept = base64.b64decode(letter.original)
    assert letter.truncated and letter.original_bytes == size and raw.startswith(kept)
    assert decode(wire) == letter, "the dead letter itself decodes under the limit"


def test_the_largest_message_kept_whole_and_the_smallest_cut() -> None:
    whole = _letter(b"x" * 700_000)
    assert not whole.truncated and len(encode(whole)) <= DEFAULT_MAX_BYTES
    assert _letter(b"x" * 790_000).truncated


def test_a_message_with_no_bytes_is_said_to_have_none() -> None:
    letter = _letter(None)
    assert letter.original == "" and letter.original_bytes == 0 and not letter.truncated


@given(
    raw=st.binary(max_size=5000),
    max_bytes=st.integers(min_value=900, max_value=6000),
    detail=st.text(max_size=300),
)
def test_any_dead_letter_fits_any_limit_it_can(raw: bytes, max_bytes: int, detail: str) -> None:
    letter = _letter(raw, max_bytes, rejection=Rejection("invalid_json", "lines[0]", detail))
    assert len(encode(letter)) <= max_bytes
    assert raw.startswith(base64.b64decode(letter.original))
    assert letter.truncated == (len(base64.b64decode(letter.original)) < len(raw))


def test_decode_inbound_dead_letters_a_near_limit_message_within_the_limit() -> None:
    raw = b"{" + b"x" * 999_999
    letter = decode_inbound(
        Inbound("shop.clickstream", 0, 42, raw), DEFAULT_MAX_BYTES, T0, sentiment=vader_score
    )
    assert isinstance(letter, DeadLetter) and letter.reason == "invalid_json"
    assert letter.truncated and letter.original_bytes == 1_000_000
    assert len(encode(letter)) <= DEFAULT_MAX_BYTES
