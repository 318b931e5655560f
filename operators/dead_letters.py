"""Turning a message the engine cannot use into a dead-letter record that says why."""

from __future__ import annotations

import base64
import dataclasses

from insession.schemas.codec import DEFAULT_MAX_BYTES, Rejection, encode
from insession.schemas.events import DeadLetter


def to_dead_letter(
    raw: bytes | None,
    rejection: Rejection,
    *,
    source: str,
    partition: int | None,
    offset: int | None,
    stage: str,
    failed_at: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DeadLetter:
    """Wrap the original bytes (base64) with where they came from and why.

    The whole dead letter, encoded, fits in `max_bytes`: base64 makes a message 4/3 larger, so
    one near the limit would otherwise make a dead letter that no producer or topic takes, and
    the flow could not get past it. What does not fit is cut from the end of the original;
    `truncated` and `original_bytes` say so.

    >>> letter = to_dead_letter(b"x" * 3000, Rejection("invalid_json", None, "not JSON"),
    ...     source="shop.cart", partition=0, offset=7, stage="decode",
    ...     failed_at=1_764_000_000_000, max_bytes=2048)
    >>> letter.truncated, letter.original_bytes, len(encode(letter)) <= 2048
    (True, 3000, True)
    """
    raw = raw or b""
    letter = DeadLetter(
        original="",
        original_bytes=len(raw),
        truncated=False,
        source_topic=source,
        source_partition=partition,
        source_offset=offset,
        stage=stage,
        reason=rejection.reason,
        field=rejection.field,
        error=str(rejection),
        failed_at=failed_at,
    )
    keep = _bytes_that_fit(max_bytes - len(encode(letter)))
    if len(raw) <= keep:
        return dataclasses.replace(letter, original=_base64(raw))
    # `true` is shorter than `false`: the truncated letter is no larger than the one measured.
    return dataclasses.replace(letter, original=_base64(raw[:keep]), truncated=True)


def _bytes_that_fit(room: int) -> int:
    """The most bytes whose base64 (4 characters per 3 bytes, never escaped in JSON) takes at
    most `room` characters."""
    return max(0, room) // 4 * 3


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
