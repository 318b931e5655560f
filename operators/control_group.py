"""The persistent control group: a stable, hashed share of customers that the policy leaves
alone, so that its uplift over random offers (or no offers) is measured while it runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

CONTROL_MODES = ("random", "none")


def _unit(*parts: str) -> float:
    """A number in [0, 1) fixed by the parts: the same customer always lands in the same place."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class ControlGroup:
    """`share` of customers, chosen by a salted hash; they get a random eligible offer, or none.

    >>> group = ControlGroup(share=0.5)
    >>> group.contains("cust-1") == group.contains("cust-1")
    True
    """

    share: float = 0.02
    mode: str = "random"
    salt: str = "insession-control-1"

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"control share must be in [0, 1], got {self.share}")
        if self.mode not in CONTROL_MODES:
            raise ValueError(f"control mode must be one of {', '.join(CONTROL_MODES)}")

    def contains(self, who: str) -> bool:
        """Whether this customer (or device, before login) is in the control group."""
        return _unit(self.salt, who) < self.share

    def pick(self, count: int, who: str, trigger_id: str) -> int:
        """A uniformly random index in range(count), the same for the same decision."""
        return int(_unit(self.salt, who, trigger_id) * count)
