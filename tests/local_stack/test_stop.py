"""`scripts/local` stops on SIGTERM every time, in time, leaving no process behind.

The stop signal can land on any of the stack's threads; it must still reach the main
thread and end the process (see local_stack/signals.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from local_stack_helpers import cli_environment
from test_terminal import ROOT, chat_once

# Start, one turn, SIGTERM: this many times in a row, each within the limit.
CYCLES = 30
STOP_LIMIT_S = 5.0
# The stop's own limit, plus the interpreter's exit.
EXIT_LIMIT_S = STOP_LIMIT_S + 3.0

pytestmark = pytest.mark.timeout(CYCLES * 30)  # each cycle takes a few seconds


def descendants(pid: int) -> set[int]:
    """Every living process below `pid`, found through /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def clis() -> Iterator[list[subprocess.Popen[str]]]:
    """The CLIs a test starts; any still running at its end is killed, with all below it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            below = descendants(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
            for pid in below:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            process.communicate()


def start_cli(
    clis: list[subprocess.Popen[str]], home: Path, *flags: str
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack", "--port", "0", "--auth", "none", *flags],
        cwd=ROOT,
        env=cli_environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    clis.append(process)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl+C to stop." in line:
            break
    [opened] = [line for line in lines if line.strip().startswith("Open ")]
    return process, opened.split()[-1].rstrip("/")


def stop_in_time(process: subprocess.Popen[str]) -> tuple[float, set[int]]:
    """SIGTERM; (seconds to exit, processes it had started that are still alive)."""
    started = descendants(process.pid)
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=EXIT_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return float("inf"), {pid for pid in started if alive(pid)}
    return time.monotonic() - began, {pid for pid in started if alive(pid)}


@pytest.mark.slow
def test_start_turn_and_sigterm_exits_in_time_every_cycle_leaving_no_process(tmp_path, clis):
    results = []
    for _ in range(CYCLES):
        process, base_url = start_cli(clis, tmp_path)
        chat_once(base_url)
        seconds, left = stop_in_time(process)
        results.append((seconds, process.returncode, sorted(left)))
    late = [r for r in results if r[0] > EXIT_LIMIT_S or r[1] != 0 or r[2]]
    assert late == [], f"cycles that hung, failed or left processes: {late}"


def lex_turn(base_url: str) -> str:
    """One RecognizeText turn, as the page makes it; the bot's message."""
    config = json.load(urllib.request.urlopen(f"{base_url}/config.json", timeout=10))
    _, _, bot_id, _, alias, _, locale, *_ = config["recognizeTextPath"].split("/")
    lex = boto3.client(
        "lexv2-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id="stop",
        aws_secret_access_key="stop",
    )
    answer = lex.recognize_text(
        botId=bot_id, botAliasId=alias, localeId=locale, sessionId="lex-web-ui-0a0a", text="hi"
    )
    return answer["messages"][0]["content"]


HANDLER = textwrap.dedent(
    """
    import threading
    import time


    def handler(event, context):
        # A thread that never ends and is not a daemon: it would keep a process alive.
        threading.Thread(target=lambda: time.sleep(3600)).start()
        return {
            "sessionState": {
                "dialogAction": {"type": "Close"},
                "intent": {"name": event["sessionState"]["intent"]["name"], "state": "Fulfilled"},
            },
            "messages": [{"contentType": "PlainText", "content": "done"}],
        }
    """
)


def test_a_handler_with_a_never_ending_thread_does_not_keep_the_stack_from_stopping(tmp_path, clis):
    (tmp_path / "app.py").write_text(HANDLER)
    process, base_url = start_cli(clis, tmp_path, "--handler", f"{tmp_path / 'app.py'}:handler")
    assert lex_turn(base_url) == "done"

    seconds, left = stop_in_time(process)

    assert seconds <= EXIT_LIMIT_S
    assert process.returncode == 0
    assert left == set()


def test_the_local_model_stops_on_sigterm_after_a_stream_every_time(tmp_path, clis):
    for _ in range(5):
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack.bedrock", "--tokens-per-second", "2000"],
            cwd=ROOT,
            env=cli_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        clis.append(process)
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip().split("=", 1)[1]
        bedrock = boto3.client(
            "bedrock-runtime",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="stop",
            aws_secret_access_key="stop",
        )
        stream = bedrock.converse_stream(
            modelId="local.model", messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )["stream"]
        assert any("contentBlockDelta" in event for event in stream)

        seconds, left = stop_in_time(process)

        assert seconds <= EXIT_LIMIT_S
        assert process.returncode == 0
        assert left == set()
