"""The decoder the codec tests call: `codec.decode`, checked against the checking decoder."""

from __future__ import annotations

from typing import Any

from insession.schemas import codec


def decode(raw: Any, **limits: int) -> Any:
    """`codec.decode`, asserting that its msgspec fast path changes nothing: the checking
    decoder alone returns the same contract, or the same rejection (reason, field, detail)."""
    fast = codec.decode(raw, **limits)
    checked = codec.decode_checked(raw, **limits)
    assert type(fast) is type(checked) and fast == checked, (raw, fast, checked)
    return fast
