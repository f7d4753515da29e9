"""The cost of an answer: 32 KB message units, billed milliseconds, and dollars that follow
from the counts and the named prices."""

from __future__ import annotations

import dataclasses

import pytest
from lexstream_runtime import contract

from benchmarks import cost

KB = 1024
USAGE = cost.AnswerUsage(
    message_units=400,
    connection_seconds=12.0,
    billed_duration_ms=8000,
    memory_mb=256,
    lambda_requests=1,
    read_units=0.5,
    write_units=1,
)


@pytest.mark.parametrize(
    ("sizes", "units"),
    [
        ([], 0),
        ([0], 1),
        ([1], 1),
        ([32 * KB], 1),
        ([32 * KB + 1], 2),
        ([33 * KB], 2),
        ([64 * KB], 2),
        ([64 * KB + 1], 3),
        ([contract.MAX_MESSAGE_BYTES], 4),
        ([5, 32 * KB + 1, 7], 4),
    ],
)
def test_each_message_counts_one_unit_per_started_32_kb(sizes: list[int], units: int) -> None:
    assert cost.message_units(sizes) == units


@pytest.mark.parametrize(
    ("seconds", "billed_ms"), [(0.0, 0), (0.012, 12), (0.0121, 13), (8.0001, 8001), (1.5, 1500)]
)
def test_lambda_duration_is_billed_in_whole_milliseconds_rounded_up(
    seconds: float, billed_ms: int
) -> None:
    assert cost.billed_duration_ms(seconds) == billed_ms


def test_at_a_dollar_per_unit_each_column_is_its_quantity_for_1000_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, price in vars(cost).items():
        if isinstance(price, cost.Price):
            monkeypatch.setattr(cost, name, dataclasses.replace(price, usd=1, per=1))
    dollars = cost.cost_per_answers(USAGE)
    assert dollars == pytest.approx(
        {
            "messages": 400_000,
            "connection_minutes": 200,  # 12 s is 0.2 minutes
            "lambda_duration": 2000,  # 8 s at 0.25 GB
            "lambda_requests": 1000,
            "dynamodb_reads": 500,
            "dynamodb_writes": 1000,
            "total": 400_000 + 200 + 2000 + 1000 + 500 + 1000,
        }
    )


def test_known_counts_at_the_us_east_1_prices_of_december_2026() -> None:
    dollars = cost.cost_per_answers(USAGE)
    assert dollars == pytest.approx(
        {
            "messages": 0.4,  # 400,000 units at $1.00 per million
            "connection_minutes": 0.00005,  # 200 minutes at $0.25 per million
            "lambda_duration": 0.0333334,  # 2,000 GB-s at $0.0000166667
            "lambda_requests": 0.0002,  # 1,000 at $0.20 per million
            "dynamodb_reads": 0.0000625,  # 500 RRU at $0.125 per million
            "dynamodb_writes": 0.000625,  # 1,000 WRU at $0.625 per million
            "total": 0.4342709,
        }
    )


def test_every_price_names_its_region_date_and_source() -> None:
    assert set(cost.PRICES.values()) == {
        cost.WEBSOCKET_MESSAGE,
        cost.CONNECTION_MINUTE,
        cost.LAMBDA_GB_SECOND,
        cost.LAMBDA_REQUEST,
        cost.DYNAMODB_READ_UNIT,
        cost.DYNAMODB_WRITE_UNIT,
    }
    for entry in cost.price_list():
        assert entry["region"] == "us-east-1"
        assert str(entry["read_on"]).count("-") == 2
        assert entry["source"] and entry["usd"] > 0 and entry["per"] >= 1
