"""The Python API refuses a value of the wrong type, and a number out of its consumer's
range, for every argument: one error naming the argument, the value and what is valid."""

from __future__ import annotations

import pytest

from components import InvalidArgumentError
from components.argument_rules import INT32_MAX, Bounds, Choices

from .argument_matrix import Mistake, args_with, mistakes, number_arguments

MISTAKES = list(mistakes())
NUMBERS = list(number_arguments())


def test_the_matrix_covers_every_kind_of_argument() -> None:
    paths = {m.path for m in MISTAKES}
    assert {"stage_name", "web_ui_role_names", "tags", "dashboard", "quota_limit"} <= paths
    assert "example_fulfillment.max_tokens" in paths
    assert len(MISTAKES) > 100


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: f"{m.path}={m.value!r}")
def test_a_value_of_the_wrong_type_is_refused_by_name(mistake: Mistake) -> None:
    with pytest.raises(InvalidArgumentError) as failure:
        mistake.python_args()
    assert failure.value.argument == mistake.path
    message = str(failure.value)
    assert message.startswith(f"{mistake.path} must be ")
    assert message.endswith(f"(got {mistake.value!r})")


def test_a_string_is_never_taken_for_a_list_of_role_names() -> None:
    with pytest.raises(InvalidArgumentError) as failure:
        args_with("web_ui_role_names", "Admin")
    assert str(failure.value) == "web_ui_role_names must be a list of strings (got 'Admin')"


def test_the_bounds_are_what_the_aws_apis_take() -> None:
    # API Gateway's throttle and quota settings and Bedrock's maxTokens are 32-bit
    # integers (or doubles) in their APIs; CloudWatch Logs takes a fixed set of periods.
    assert INT32_MAX == 2_147_483_647
    ranges = dict(NUMBERS)
    assert ranges["quota_per_identity_limit"] == Bounds(1, 2_147_483_647)
    assert ranges["throttle_rate_limit"] == Bounds(0, 2_147_483_647, above=True)
    assert ranges["example_fulfillment.max_tokens"] == Bounds(1, 2_147_483_647)
    assert isinstance(ranges["log_retention_days"], Choices)
    assert max(ranges["log_retention_days"].values) == 3653


@pytest.mark.parametrize(("path", "bounds"), NUMBERS, ids=[path for path, _ in NUMBERS])
def test_every_number_is_taken_at_its_bound_and_refused_one_past_it(
    path: str, bounds: Bounds | Choices
) -> None:
    largest = max(bounds.values) if isinstance(bounds, Choices) else bounds.maximum
    args_with(path, largest)
    for outside in (largest + 1, 0 if isinstance(bounds, Choices) else bounds.minimum - 1):
        with pytest.raises(InvalidArgumentError) as failure:
            args_with(path, outside)
        assert failure.value.argument == path
        assert str(failure.value).endswith(f"(got {outside!r})")
        assert str(largest) in str(failure.value)


def test_a_huge_quota_is_refused_before_it_reaches_dynamodb() -> None:
    # More than 38 digits deployed once, and every connect then failed in DynamoDB.
    with pytest.raises(InvalidArgumentError, match=r"^quota_per_identity_limit .* 2147483647"):
        args_with("quota_per_identity_limit", 10**40)
