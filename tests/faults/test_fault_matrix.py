"""The fault matrix: one test per fault, each proving three things end to end.

1. What the user sees: the frames the browser received, and the final Lex message that
   replaces them.
2. What is logged: the structured JSON lines of the functions (or the gateway's line
   when API Gateway itself refuses).
3. That nothing is lost from the final response: it carries every word the model
   produced, in order (plus, where the turn was cut or failed, a short note).

docs/security.md has the table; each row names the test below.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text
from lexstream_runtime.streaming import DEFAULT_MAX_RETRIES

from local_stack.bedrock import split_tokens
from local_stack.identity import LocalIdentityPool
from tests.faults.conftest import ANSWER, SESSION, STREAMED_ANSWER, Deployment
from tests.faults.dynamodb_faults import FaultyDynamoDB
from tests.functions.raw_socket import RawWebSocket
from tests.functions.waiting import eventually
from tests.local_stack.local_stack_helpers import presign

CUT_SHORT_NOTE = "\n\n_(The answer was cut short to fit the time limit.)_"


def in_background(work: Callable[[], str]) -> tuple[ThreadPoolExecutor, Future[str]]:
    pool = ThreadPoolExecutor(max_workers=1)
    return pool, pool.submit(work)


def one(lines: list[dict], **expected: object) -> dict:
    """The single log line whose fields include `expected`."""
    found = [line for line in lines if all(line.get(k) == v for k, v in expected.items())]
    assert len(found) == 1, f"expected one line with {expected}, got {found} among {lines}"
    return found[0]


# --- the browser side -------------------------------------------------------------------


def test_client_gone_mid_stream(deploy: Callable[..., Deployment]) -> None:
    stack = deploy(tokens_per_second=40.0)  # two seconds of answer to act in
    browser = stack.connect()
    pool, turn = in_background(stack.turn)
    assert browser.wait_for(lambda c: c.frames)
    browser.close()  # the tab is closed while the answer is still streaming
    final = turn.result(timeout=60)
    pool.shutdown()

    # Sees: the stream stops where the tab went away; Lex's final message is complete.
    assert ANSWER.startswith(browser.text) and browser.text != ANSWER
    assert final == ANSWER
    # Logged: the stream stopped because the connection is gone, and the row went with it.
    closed = one(stack.logs("stream_closed"), streaming=True)
    assert closed["stopReason"] == "gone" and closed["characters"] == len(ANSWER)
    assert stack.logs("stale_connection") or one(
        stack.logs("route_decision"), route=contract.ROUTE_DISCONNECT, reason="removed"
    )
    # Nothing lost, and no stale row left behind.
    assert stack.row() is None


def test_client_reconnects_mid_stream(deploy: Callable[..., Deployment]) -> None:
    stack = deploy(tokens_per_second=40.0)
    old_tab = stack.connect()
    [old_connection] = stack.open_connections(1)
    pool, turn = in_background(stack.turn)
    assert old_tab.wait_for(lambda c: c.frames)
    old_tab.close()
    assert stack.open_connections(0) == []
    # A live session cannot be taken over: the page gets it back once the old row is
    # gone ($disconnect, or the stream's stale-row cleanup after Gone).
    assert eventually(lambda: stack.row() is None, timeout=10)
    new_tab = stack.connect()  # the page reconnects with the same session id
    [new_connection] = stack.open_connections(1)
    final = turn.result(timeout=60)
    pool.shutdown()

    # Sees: the old socket got a prefix; the turn's final message is complete.
    assert STREAMED_ANSWER.startswith(old_tab.text) and final == ANSWER
    # Nothing lost for the new tab: its mapping survived the old tab's cleanup ...
    assert eventually(lambda: stack.row() is not None, timeout=10)
    assert stack.row()[contract.CONNECTION_ID]["S"] == new_connection
    # ... so the next turn streams to it in full.
    assert stack.turn() == ANSWER
    assert new_tab.wait_for(lambda c: c.text == STREAMED_ANSWER)
    # Logged: the first turn stopped on the gone socket, the second streamed to the end.
    first, second = stack.logs("stream_closed")
    assert first["stopReason"] == "gone" and first["connectionId"] == old_connection
    assert second["stopReason"] is None and second["connectionId"] == new_connection


# 6 MB in 100 KB tokens: more than the loopback socket buffers absorb, so a client that
# stops reading really fills up.
FLOOD = "".join(f"{i:03d}" + "x" * 100_000 + " " for i in range(60))


def test_callback_throttled(deploy: Callable[..., Deployment]) -> None:
    # A client whose buffer never drains: once the socket buffers are full, every post
    # answers 429 LimitExceededException.
    stack = deploy(
        tokens_per_second=600.0,
        gateway={"client_buffer_bytes": 0},
        bedrock={"answer": lambda request: FLOOD},
    )
    path = stack.connect_url().split(str(stack.gateway.port), 1)[1]
    stalled = RawWebSocket("127.0.0.1", stack.gateway.port, path)
    try:
        final = stack.turn()
    finally:
        stalled.close()

    # Sees: the stream stalls, then the complete final message.
    assert final == FLOOD
    # Logged: bounded retries, then streaming stopped; the turn did not fail.
    closed = one(stack.logs("stream_closed"), streaming=True)
    assert closed["stopReason"] == "LimitExceededException"
    assert closed["retries"] == DEFAULT_MAX_RETRIES and closed["failedPosts"] == 1
    assert stack.gateway.counters.post_errors["LimitExceededException"] == DEFAULT_MAX_RETRIES + 1


# --- DynamoDB ------------------------------------------------------------------------------

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port
DYNAMODB_FAULTS = {
    "throttled": ("ThrottlingException", "ThrottlingException"),
    "unavailable": ("ServiceUnavailableException", "ServiceUnavailableException"),
    "unreachable": (None, "EndpointConnectionError"),
}


def failing_dynamodb(proxy: FaultyDynamoDB, fault: str, operation: str) -> tuple[str, str]:
    """The endpoint that shows `fault` on `operation`, and the error code it logs."""
    injected, logged_code = DYNAMODB_FAULTS[fault]
    if injected is None:
        return UNREACHABLE, logged_code
    proxy.fail(operation, injected)
    return proxy.endpoint_url, logged_code


@pytest.mark.parametrize("fault", list(DYNAMODB_FAULTS))
def test_dynamodb_fails_at_connect(
    deploy: Callable[..., Deployment], faulty_dynamodb: FaultyDynamoDB, fault: str
) -> None:
    endpoint, logged_code = failing_dynamodb(faulty_dynamodb, fault, "*")
    stack = deploy(route_dynamodb=endpoint)

    # Sees: the socket is refused with a bare 500, so the Web UI does not stream ...
    with pytest.raises(ConnectionError, match="HTTP 500"):
        stack.connect()
    # ... and the turn is answered in full without streaming.
    assert stack.turn() == ANSWER
    # Logged: the failed decision with the AWS error code, and the quiet fallback.
    decision = one(stack.logs("route_decision"), route=contract.ROUTE_CONNECT)
    assert decision["decision"] == "failed" and decision["error"] == logged_code
    assert one(stack.logs("stream_opened"))["stopReason"] == "connection_not_found"
    # Nothing half-written: no row for the session.
    assert stack.row() is None


@pytest.mark.parametrize("fault", list(DYNAMODB_FAULTS))
def test_dynamodb_fails_at_fulfillment(
    deploy: Callable[..., Deployment], faulty_dynamodb: FaultyDynamoDB, fault: str
) -> None:
    endpoint, logged_code = failing_dynamodb(faulty_dynamodb, fault, "GetItem")
    stack = deploy(example_dynamodb=endpoint)
    browser = stack.connect()  # connected fine; the lookup at fulfillment fails

    final = stack.turn()

    # Sees: nothing streamed this turn, then the complete answer.
    assert final == ANSWER
    assert browser.text == ""
    # Logged: the lookup failure, with its code, as the reason streaming is off.
    opened = one(stack.logs("stream_opened"))
    assert opened["streaming"] is False
    assert opened["stopReason"] == f"lookup_failed:{logged_code}"
    if endpoint != UNREACHABLE:
        assert faulty_dynamodb.failed("GetItem") >= 1


# --- the model -------------------------------------------------------------------------


def test_model_stream_errors_midway(deploy: Callable[..., Deployment]) -> None:
    produced = 30
    stack = deploy(bedrock={"stream_error_after": produced})
    browser = stack.connect()

    final = stack.turn()

    partial = "".join(split_tokens(ANSWER)[:produced])
    # Sees: the partial answer streamed, then a polite sentence; the same in the final.
    assert final.startswith(partial) and final != partial
    assert "Sorry" in final[len(partial) :]
    assert browser.wait_for(lambda c: c.text == markdown_to_plain_text(final))
    # Logged: the model error with the exception Bedrock sent and how much was kept.
    error = one(stack.logs("model_error"))
    assert error["error"] == "modelStreamErrorException"
    assert error["partialCharacters"] == len(partial)


def test_model_slower_than_the_lex_turn(deploy: Callable[..., Deployment]) -> None:
    # Lex waits ~30 s; the example stops taking text at its 25 s turn budget. The test
    # scales that budget down to 2 s (the Lambda itself has plenty of time left) and
    # gives the model 8 s of work.
    stack = deploy(tokens_per_second=10.0, timeout_s=600.0, turn_budget_s=2.0)
    browser = stack.connect()

    final = stack.turn()

    assert final.endswith(CUT_SHORT_NOTE)
    kept = final.removesuffix(CUT_SHORT_NOTE)
    # Sees: what the model managed within the turn, then the note, streamed and final.
    assert kept and ANSWER.startswith(kept) and kept != ANSWER
    assert browser.wait_for(lambda c: c.text == markdown_to_plain_text(final))
    # Logged: the cut, with how much text was kept.
    assert one(stack.logs("answer_cut_short"))["characters"] == len(kept)


def test_lambda_timeout_budget_runs_out(deploy: Callable[..., Deployment]) -> None:
    # A 3 s Lambda timeout leaves a 2 s budget; the model needs 8 s.
    stack = deploy(tokens_per_second=10.0, timeout_s=3.0)
    browser = stack.connect()

    final = stack.turn()

    kept = final.removesuffix(CUT_SHORT_NOTE)
    assert final.endswith(CUT_SHORT_NOTE) and kept and ANSWER.startswith(kept)
    # Sees the same text streamed as in the final message: nothing was lost in between.
    assert browser.wait_for(lambda c: c.text == markdown_to_plain_text(final))
    assert one(stack.logs("answer_cut_short"))["characters"] == len(kept)


# --- the connection table ----------------------------------------------------------------


def test_disconnect_arrives_twice(deploy: Callable[..., Deployment], event) -> None:
    stack = deploy()
    old_tab = stack.connect()
    [old_connection] = stack.open_connections(1)
    old_tab.close()  # the gateway runs $disconnect once ...
    assert eventually(
        lambda: any(
            line["connectionId"] == old_connection
            for line in stack.logs("route_decision")
            if line["route"] == contract.ROUTE_DISCONNECT
        ),
        timeout=10,
    )
    # The page reconnects with the same session id (the old row is gone: it may).
    new_tab = stack.connect()
    [new_connection] = stack.open_connections(1)
    duplicate = event("websocket-disconnect")
    duplicate["requestContext"]["connectionId"] = old_connection
    # ... and API Gateway delivers it again (at-least-once).
    assert stack.routes[contract.ROUTE_DISCONNECT].invoke(duplicate)["statusCode"] == 200

    # Logged: the first delivery removed the old row; the late duplicate, arriving after
    # the reconnect re-registered the session, removed nothing: the old id is no longer
    # in the index ("not_found"), or, while the index still had it, the conditional
    # delete kept the newer row.
    decisions = [
        line
        for line in stack.logs("route_decision")
        if line["route"] == contract.ROUTE_DISCONNECT and line["connectionId"] == old_connection
    ]
    assert [(d["status"], d["removed"]) for d in decisions] == [(200, 1), (200, 0)]
    assert decisions[1]["reason"] in ("not_found", "replaced_by_newer_connection")
    # Sees / nothing lost: the new tab still gets the whole stream.
    assert stack.row()[contract.CONNECTION_ID]["S"] == new_connection
    assert stack.turn() == ANSWER
    assert new_tab.wait_for(lambda c: c.text == STREAMED_ANSWER)


def test_item_expired_by_ttl(deploy: Callable[..., Deployment]) -> None:
    stack = deploy()

    def expired_row() -> None:
        # Past its TTL, so it names a connection that is closed: the TTL is 10 minutes
        # past API Gateway's 2-hour maximum, so a live socket never has an expired row.
        stack.dynamodb.put_item(
            TableName=stack.connection_table,
            Item={
                contract.SESSION_ID: {"S": SESSION},
                contract.CONNECTION_ID: {"S": "ExpiredConn0000="},
                contract.TTL: {"N": str(int(time.time()) - 60)},
            },
        )

    # Swept: DynamoDB Local runs TTL within about a second. The turn finds no row and is
    # a quiet, complete, non-streaming turn.
    expired_row()
    assert eventually(lambda: stack.row() is None, timeout=60)
    assert stack.turn() == ANSWER
    assert one(stack.logs("stream_opened"))["stopReason"] == "connection_not_found"

    # Not swept yet: AWS deletes expired rows lazily (up to days later), and reads still
    # return them. TTL is turned off to hold the row in that window.
    stack.dynamodb.update_time_to_live(
        TableName=stack.connection_table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": contract.TTL},
    )
    expired_row()
    assert stack.turn() == ANSWER
    # Logged: one post answered 410, and the stale row was removed.
    closed = one(stack.logs("stream_closed"), streaming=True)
    assert closed["stopReason"] == "gone" and closed["messagesPosted"] == 0
    assert one(stack.logs("stale_connection"))["outcome"] == "removed"
    assert stack.row() is None


# --- presigned connect URLs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("skew", "expires", "accepted"),
    [
        (timedelta(minutes=3), 3600, True),  # a clock a little fast: within AWS's 5 minutes
        (timedelta(minutes=-50), 3600, True),  # a slow clock, still inside X-Amz-Expires
        (timedelta(minutes=20), 3600, False),  # too far in the future
        (timedelta(hours=-2), 3600, False),  # so slow that the URL has already expired
    ],
    ids=["fast-3min", "slow-50min", "fast-20min", "slow-2h"],
)
def test_presigned_url_clock_skew(
    deploy: Callable[..., Deployment],
    caplog: pytest.LogCaptureFixture,
    skew: timedelta,
    expires: int,
    accepted: bool,
) -> None:
    pool = LocalIdentityPool()
    credentials = pool.issue()
    stack = deploy(gateway={"auth_mode": contract.AUTH_IAM, "identity_pool": pool})
    # The Lex Web UI uses the Cognito identity id as the Lex session id.
    query = f"{contract.CONNECT_QUERY_PARAMETER}={credentials.identity_id}"
    url = f"{stack.gateway.websocket_url}?{query}"
    signed = presign(url, credentials, expires=expires, signed_at=datetime.now(UTC) + skew)
    caplog.set_level(logging.INFO, logger="lexstream.local.gateway")

    if accepted:
        stack.connect(signed)
        assert one(stack.logs("route_decision"), route=contract.ROUTE_CONNECT)["status"] == 200
        return
    # Sees: the socket is refused with 403 before any function runs; the chat still works.
    with pytest.raises(ConnectionError, match="HTTP 403"):
        stack.connect(signed)
    # Logged: API Gateway's refusal (the local gateway's line); $connect never ran.
    assert any("connect rejected (403)" in r.getMessage() for r in caplog.records)
    assert stack.logs("route_decision") == []
    # Nothing written, and the turn is answered in full without streaming.
    assert stack.dynamodb.scan(TableName=stack.connection_table)["Count"] == 0
    assert stack.turn() == ANSWER
