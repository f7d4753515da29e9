"""What a streamed answer costs in US dollars, from counts measured in the same run.

Every price is a named constant here, with the region and the date it was read and
where it came from, so that updating one is a one-line change. They are public list
prices for the first tier, without the free tier: what a busy stack pays at the margin.
The arithmetic is a pure function of the counts, so it is tested with known numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from lexstream_runtime import contract

ANSWERS = 1000  # the table prices this many answers


@dataclass(frozen=True)
class Price:
    """A list price: `usd` for every `per` units of `unit`, in `region`, as read on
    `read_on` (ISO date) from `source`."""

    usd: float
    per: int
    unit: str
    region: str
    read_on: str
    source: str

    def of(self, quantity: float) -> float:
        """The dollars `quantity` units cost."""
        return quantity * self.usd / self.per


WEBSOCKET_MESSAGE = Price(
    1.00,
    1_000_000,
    "WebSocket messages (32 KB units), first 1 billion a month",
    "us-east-1",
    "2026-12-01",
    "aws.amazon.com/api-gateway/pricing (metering in 32 KB increments confirmed there; "
    "the rate is the list price as known, the page renders its rates client-side)",
)
CONNECTION_MINUTE = Price(
    0.25,
    1_000_000,
    "WebSocket connection minutes",
    "us-east-1",
    "2026-12-01",
    "aws.amazon.com/api-gateway/pricing, as quoted in an AWS re:Post question on "
    "connection-minute pricing",
)
LAMBDA_GB_SECOND = Price(
    0.0000166667,
    1,
    "Lambda compute, GB-seconds (x86, first tier)",
    "us-east-1",
    "2026-12-01",
    "aws.amazon.com/lambda/pricing as quoted by third-party cost guides; 1 ms billing "
    "granularity from the AWS News Blog (December 2020)",
)
LAMBDA_REQUEST = Price(
    0.20,
    1_000_000,
    "Lambda requests",
    "us-east-1",
    "2026-12-01",
    "aws.amazon.com/lambda/pricing as quoted by third-party cost guides",
)
DYNAMODB_WRITE_UNIT = Price(
    0.625,
    1_000_000,
    "DynamoDB on-demand write request units",
    "us-east-1",
    "2026-12-01",
    "the November 2024 on-demand price cut (AWS News Blog update of January 2025), "
    "rates as quoted for US East by third-party pricing guides",
)
DYNAMODB_READ_UNIT = Price(
    0.125,
    1_000_000,
    "DynamoDB on-demand read request units",
    "us-east-1",
    "2026-12-01",
    "the November 2024 on-demand price cut (AWS News Blog update of January 2025), "
    "rates as quoted for US East by third-party pricing guides",
)
PRICES = {
    "websocket_message": WEBSOCKET_MESSAGE,
    "connection_minute": CONNECTION_MINUTE,
    "lambda_gb_second": LAMBDA_GB_SECOND,
    "lambda_request": LAMBDA_REQUEST,
    "dynamodb_write_unit": DYNAMODB_WRITE_UNIT,
    "dynamodb_read_unit": DYNAMODB_READ_UNIT,
}
# The columns of the cost table, in order; each is priced by one function below.
COLUMNS = (
    "messages",
    "connection_minutes",
    "lambda_duration",
    "lambda_requests",
    "dynamodb_reads",
    "dynamodb_writes",
)


def message_units(message_bytes: Iterable[int]) -> int:
    """API Gateway's billed message count: each message is metered in 32 KB units, so a
    message of 33 KB counts twice; an empty message still counts once."""
    return sum(max(1, math.ceil(size / contract.BILLING_UNIT_BYTES)) for size in message_bytes)


def billed_duration_ms(duration_s: float) -> int:
    """Lambda's billed duration for one invocation: rounded up to the next millisecond."""
    # Rounded to the microsecond first, so that float noise (0.012 s * 1000 =
    # 12.000000000000002) does not bill a whole extra millisecond.
    return math.ceil(round(duration_s * 1000, 3))


@dataclass(frozen=True)
class AnswerUsage:
    """What one streamed answer used, as measured.

    message_units: WebSocket messages both ways in 32 KB units (`message_units`).
    connection_seconds: how long the answer held the socket.
    billed_duration_ms: the fulfillment invocation, rounded up to 1 ms.
    memory_mb: the fulfillment function's memory size.
    lambda_requests: fulfillment invocations (one per answer).
    read_units, write_units: DynamoDB request units the fulfillment consumed.
    """

    message_units: float
    connection_seconds: float
    billed_duration_ms: float
    memory_mb: float
    lambda_requests: float
    read_units: float
    write_units: float


def cost_per_answers(usage: AnswerUsage, answers: int = ANSWERS) -> dict[str, float]:
    """US dollars for `answers` answers like `usage`, per column, plus `total`."""
    gb_seconds = usage.billed_duration_ms / 1000 * usage.memory_mb / 1024
    dollars = {
        "messages": WEBSOCKET_MESSAGE.of(usage.message_units * answers),
        "connection_minutes": CONNECTION_MINUTE.of(usage.connection_seconds / 60 * answers),
        "lambda_duration": LAMBDA_GB_SECOND.of(gb_seconds * answers),
        "lambda_requests": LAMBDA_REQUEST.of(usage.lambda_requests * answers),
        "dynamodb_reads": DYNAMODB_READ_UNIT.of(usage.read_units * answers),
        "dynamodb_writes": DYNAMODB_WRITE_UNIT.of(usage.write_units * answers),
    }
    dollars["total"] = sum(dollars.values())
    return dollars


def price_list() -> list[dict[str, object]]:
    """The prices used, for the results file."""
    return [{"name": name, **asdict(price)} for name, price in PRICES.items()]
