"""The provider's conversion of Construct inputs follows each argument's declared type,
whatever container holds it: the items of a `tuple[T, ...]` argument are converted as `T`
(not as the `...` that ends the annotation), and the values of a `dict[str, T]` argument
as `T` (not as the key type). The component's own arguments today are lists and maps of
strings, for which a wrong type parameter changes nothing; these dataclasses declare the
shapes where it does."""

from __future__ import annotations

import dataclasses

from provider.schema import args_from_inputs


@dataclasses.dataclass(frozen=True)
class Limit:
    """One limit."""

    count: int = 0
    """How many."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Limits in the two containers the conversion reads."""

    steps: tuple[Limit, ...] = ()
    """Limits in order."""
    named: dict[str, Limit] = dataclasses.field(default_factory=dict)
    """Limits by name."""


def test_a_tuple_arguments_items_are_built_as_its_item_type() -> None:
    plan = args_from_inputs(Plan, {"steps": [{"count": 2.0}, {"count": 5.0}]})
    assert plan.steps == [Limit(count=2), Limit(count=5)]


def test_a_map_arguments_values_are_built_as_its_value_type() -> None:
    plan = args_from_inputs(Plan, {"named": {"daily": {"count": 3.0}}})
    assert plan.named == {"daily": Limit(count=3)}
    assert type(plan.named["daily"].count) is int
