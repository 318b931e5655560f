"""How contracts cross processes: their class name and a tuple of their values.

Bytewax pickles every item that crosses to another process, one item per pickle. A frozen
dataclass pickles by default as its class (a global: an import and an attribute lookup each
way, about 1.5 µs each) plus a state built by `dataclasses.fields()` on every call; a routed
event cost 17 µs to pickle and unpickle. As a name and a tuple it names one global, the
rebuilding function, and costs about half of that; inside a tuple of plain values, as keyed
steps send events (`operators.routing.pack_routed`), it names none (docs/scaling.md).

The name is the class's own, so the processes of a cluster need no shared numbering, only
the same contracts.
"""

from __future__ import annotations

import dataclasses
import operator
import sys
from collections.abc import Callable
from typing import Any

from insession.schemas.fields import slot_setter

State = tuple[str, tuple[Any, ...]]
"""A contract's class name and its field values in declaration order."""

_Plan = tuple[type, Callable[[Any], tuple[Any, ...]], tuple[Callable[[Any, Any], None], ...]]

_PLANS: dict[str, _Plan] = {}
_ROOTS: list[type] = []
_new_instance = object.__new__


def builds(*roots: type) -> None:
    """`from_state` builds these classes and their subclasses (`schemas.events` names its
    two roots, so that this module needs no import of it). The first to name a root wins: a
    second copy of the module, imported under another name, changes nothing that crosses."""
    named = {root.__name__ for root in _ROOTS}
    _ROOTS.extend(root for root in roots if root.__name__ not in named)


def _plan(cls: type) -> _Plan:
    # Every class built has two fields or more (a contract's type and version, an order
    # line's four), so the getter returns a tuple.
    names = [f.name for f in dataclasses.fields(cls)]
    return cls, operator.attrgetter(*names), tuple(slot_setter(cls, name) for name in names)


def _classes() -> dict[str, type]:
    found: dict[str, type] = {}
    pending = list(_ROOTS)
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # `dataclass(slots=True)` replaces each class by a new one; the old one may linger
        # among the subclasses: the contract is the one its module names.
        if getattr(sys.modules.get(cls.__module__), cls.__name__, None) is not cls:
            continue
        if found.setdefault(cls.__name__, cls) is not cls:
            raise TypeError(f"two contracts are named {cls.__name__}")
    return found


def _plan_named(name: str) -> _Plan:
    plan = _PLANS.get(name)
    if plan is None:
        cls = _classes().get(name)
        if cls is None:
            raise TypeError(f"no contract named {name!r} in this process")
        plan = _PLANS[name] = _plan(cls)
    return plan


def state_of(contract: Any) -> State:
    """The compact form of a contract (or an order line)."""
    name = type(contract).__name__
    plan = _PLANS.get(name)
    if plan is None or plan[0] is not type(contract):
        plan = _PLANS[name] = _plan(type(contract))
    return name, plan[1](contract)


def from_state(name: str, values: tuple[Any, ...]) -> Any:
    """The contract `state_of` described: equal to the original."""
    cls, _, setters = _plan_named(name)
    instance = _new_instance(cls)
    for store, value in zip(setters, values, strict=True):
        store(instance, value)
    return instance


def reduce_contract(contract: Any) -> tuple[Callable[..., Any], State]:
    """`__reduce__` of contracts: pickled as their compact form."""
    return from_state, state_of(contract)
