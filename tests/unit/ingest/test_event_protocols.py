"""The protocols the ledger and the outcome store read events through are read-only, so the
frozen event dataclasses satisfy them (mypy refuses a frozen field for a settable attribute).

mypy is the real check (`mypy`, configured in pyproject); this test keeps the shape from
drifting between mypy runs: every member a read-only property that each event class has,
with the same type.
"""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest

from bot.demo import DemoUsage
from budgets.ledger import UsageLike
from ingest.events import OutcomeEvent, UsageEvent
from ingest.store import OutcomeLike


def members(protocol: type) -> dict[str, object]:
    """Member name -> the return type of its property getter."""
    out = {}
    for name, value in vars(protocol).items():
        if name.startswith("_"):
            continue
        assert isinstance(value, property), f"{protocol.__name__}.{name} is not a property"
        assert value.fset is None, f"{protocol.__name__}.{name} is settable"
        out[name] = typing.get_type_hints(value.fget)["return"]
    return out


def widened(annotation: object) -> object:
    """A Literal of strings reads as str (OutcomeEvent.status)."""
    if typing.get_origin(annotation) is typing.Literal:
        return str
    return annotation


@pytest.mark.parametrize(
    ("protocol", "event_class"),
    [(UsageLike, UsageEvent), (UsageLike, DemoUsage), (OutcomeLike, OutcomeEvent)],
)
def test_every_protocol_member_is_a_read_only_property_the_frozen_event_has(protocol, event_class):
    assert event_class.__dataclass_params__.frozen
    hints = typing.get_type_hints(event_class)
    event_fields = {f.name for f in fields(event_class)}
    for name, returned in members(protocol).items():
        assert name in event_fields, f"{event_class.__name__} has no {name}"
        assert widened(hints[name]) == returned, name


def test_the_protocols_are_not_empty():
    assert len(members(UsageLike)) == 12
    assert len(members(OutcomeLike)) == 13
