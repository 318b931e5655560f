"""The features of a decision: what `operators.features` computes from a person's state and
every scorer and policy in `models` reads (named values, numbers or categories)."""

from __future__ import annotations

Features = dict[str, float | str]
"""One decision's context, e.g. `{"channel": "app", "cart_value": 42.0}`."""
