"""What `scripts/local` prints: one line per connect, turn and disconnect, close reasons
in words, and every post only with --verbose. Read from the real command and from the
stack's activity channel."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import boto3
import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import ChatSession, cli_environment, open_socket

from local_stack.activity import Connected, Disconnected, Event, Posted, TurnEnded
from local_stack.terminal import describe
from tests.functions.waiting import eventually

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What does the terminal show?"


class RunningCli:
    """`python -m local_stack --port 0 --auth none [flags]`, its output read line by line."""

    def __init__(self, flags: list[str], home: Path) -> None:
        environment = cli_environment(home)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_stack", "--port", "0", "--auth", "none", *flags],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Press Ctrl+C to stop." in line:
                break
        opened = [line for line in self.lines if line.strip().startswith("Open ")]
        assert opened, "\n".join(self.lines)
        self.base_url = opened[0].split()[-1].rstrip("/")

    def stop(self) -> list[str]:
        """Stop it (SIGTERM, as a service manager would); every line it printed, without
        the time stamps."""
        self.process.send_signal(signal.SIGTERM)
        rest, _ = self.process.communicate(timeout=90)
        self.lines += rest.splitlines()
        return [re.sub(r"^\d\d:\d\d:\d\d  ", "", line) for line in self.lines]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[type[RunningCli]]:
    started: list[RunningCli] = []

    def start(*flags: str) -> RunningCli:
        running = RunningCli(list(flags), tmp_path)
        started.append(running)
        return running

    yield start  # type: ignore[misc]
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.communicate()


def chat_once(base_url: str) -> tuple[str, int]:
    """One page load: a socket, one Lex turn, the socket closed; (session id, frames)."""
    config = json.load(urllib.request.urlopen(f"{base_url}/config.json", timeout=10))
    session_id = "lex-web-ui-7e2a"
    _, _, bot_id, _, alias, _, locale, *_ = config["recognizeTextPath"].split("/")
    lex = boto3.client(
        "lexv2-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id="terminal",
        aws_secret_access_key="terminal",
    )

    async def scenario() -> int:
        frames: list[str] = []
        url = f"{config[contract.WEB_UI_WEBSOCKET_ENDPOINT]}?sessionId={session_id}"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
            await socket.send_str('{"action":"ping"}')
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(
                None,
                lambda: lex.recognize_text(
                    botId=bot_id,
                    botAliasId=alias,
                    localeId=locale,
                    sessionId=session_id,
                    text=QUESTION,
                ),
            )
            expected = markdown_to_plain_text(answer["messages"][0]["content"])
            while len("".join(frames)) < len(expected):
                message = await socket.receive(timeout=10)
                frames.append(message.data)
        return len(frames)

    return session_id, asyncio.run(scenario())


def test_by_default_the_command_prints_one_line_per_connect_turn_and_disconnect(cli):
    running = cli()
    session_id, frames = chat_once(running.base_url)
    lines = running.stop()
    assert frames > 1
    connects = [line for line in lines if line.startswith("connect ")]
    turns = [line for line in lines if line.startswith("turn ")]
    disconnects = [line for line in lines if line.startswith("disconnect ")]
    assert len(connects) == 1 and f"session={session_id}" in connects[0]
    [turn] = turns
    assert turn.startswith(f"turn {session_id}: complete; {frames} posts, ")
    assert " bytes, 0 retries, first text after " in turn
    # The client closed normally; stopping the stack closes nothing else.
    assert len(disconnects) == 1
    assert disconnects[0].endswith("closed by the client: normal closure (1000)")
    assert not [line for line in lines if line.startswith("post ")]
    # The functions' own JSON lines stay out of the terminal.
    assert not [line for line in lines if line.startswith("{")]


def test_verbose_adds_every_post_and_the_functions_own_lines_tagged_with_request_ids(cli):
    running = cli("--verbose")
    _, frames = chat_once(running.base_url)
    lines = running.stop()
    posts = [line for line in lines if line.startswith("post ")]
    assert len(posts) == frames
    assert len([line for line in lines if line.startswith("turn ")]) == 1
    request_id = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    [closed] = [
        m
        for line in lines
        if (m := re.match(rf'fulfillment ({request_id}): {{"event": "stream_closed"', line))
    ]
    # Lambda's REPORT line closes the same invocation, with a cold start's Init Duration.
    [report] = [line for line in lines if line.startswith(f"fulfillment {closed[1]}: REPORT ")]
    assert f"REPORT RequestId: {closed[1]}\tDuration: " in report
    assert "\tInit Duration: " in report


def test_the_turn_line_carries_the_helpers_counts_on_the_activity_channel(iam_stack):
    events: list[Event] = []
    unsubscribe = iam_stack.activity.subscribe(events.append)

    async def scenario() -> ChatSession:
        session = ChatSession(iam_stack)
        await session.connect()
        final = await session.ask(QUESTION)
        await session.wait_for_text(len(markdown_to_plain_text(final)))
        await session.close()
        return session

    try:
        session = asyncio.run(scenario())
        assert eventually(lambda: any(isinstance(e, Disconnected) for e in events))
    finally:
        unsubscribe()
    [connected] = [e for e in events if isinstance(e, Connected)]
    [turn] = [e for e in events if isinstance(e, TurnEnded)]
    posts = [e for e in events if isinstance(e, Posted)]
    assert connected.session_id == session.session_id
    assert (turn.session_id, turn.ended, turn.retries) == (session.session_id, "complete", 0)
    assert turn.posts == len(posts) == len(session.frames) > 1
    assert turn.bytes_posted == sum(post.size for post in posts)
    assert turn.first_text_ms is not None and turn.first_post_delay_ms is not None
    default = [line for line in map(describe, events) if line is not None]
    verbose = [describe(event, verbose=True) for event in events]
    assert [line.split()[0] for line in default] == ["connect", "turn", "disconnect"]
    assert len([line for line in verbose if line and line.startswith("post ")]) == len(posts)


def test_a_socket_the_gateway_closes_says_why_in_words(make_gateway):
    gateway = make_gateway({}, idle_timeout_s=0.3)
    events: list[Event] = []
    gateway.activity.subscribe(events.append)

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url) as socket:
            await socket.receive(timeout=10)

    asyncio.run(scenario())
    assert eventually(lambda: any(isinstance(e, Disconnected) for e in events))
    [line] = [describe(e) for e in events if isinstance(e, Disconnected)]
    assert line.endswith("closed by the gateway: going away (1001), idle for 0.3 s")
