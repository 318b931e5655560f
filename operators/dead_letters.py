"""Turning a message the engine cannot use into a dead-letter record that says why."""

from __future__ import annotations

import base64

from schemas.codec import Rejection
from schemas.events import DeadLetter


def to_dead_letter(
    raw: bytes | None,
    rejection: Rejection,
    *,
    source: str,
    partition: int | None,
    offset: int | None,
    stage: str,
    failed_at: int,
) -> DeadLetter:
    """Wrap the original bytes (base64, so nothing is lost) with where they came from and why."""
    return DeadLetter(
        original=base64.b64encode(raw or b"").decode("ascii"),
        source_topic=source,
        source_partition=partition,
        source_offset=offset,
        stage=stage,
        reason=rejection.reason,
        field=rejection.field,
        error=str(rejection),
        failed_at=failed_at,
    )
