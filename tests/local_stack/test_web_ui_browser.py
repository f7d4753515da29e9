"""The released Lex Web UI (0.24.1, unmodified) served with `--web-ui`, in real Chromium.

Nothing in the test driver routes or intercepts requests: the stack's service worker
answers the page's AWS calls. Every request for an AWS host must be answered from the
stack; third-party assets the release links to (web fonts, CDN scripts) cannot load on
this offline machine and are only counted.

The release comes from LEXSTREAM_WEB_UI_RELEASE, by default ../shared/fixtures/
lex-web-ui-0.24.1 beside the project.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import generated
from playwright.sync_api import Browser, BrowserContext, Frame, FrameLocator, Page, expect

from local_stack.activity import Connected, Disconnected
from local_stack.stack import LocalStack
from local_stack.terminal import describe
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
RELEASE = Path(
    os.environ.get(
        "LEXSTREAM_WEB_UI_RELEASE", str(ROOT.parent / "shared/fixtures/lex-web-ui-0.24.1")
    )
)
# Slow enough that the page shows the answer growing for a few seconds.
TOKEN_RATE = 60.0
STREAMING_BUBBLE = ".message-bot.messsge-loading .message-bubble"  # the release's spelling
FINAL_BUBBLE = ".message-bot:not(.messsge-loading) .message-bubble"
# The release shows each streamed frame this long after the next one arrives.
RELEASE_TYPING_DELAY_MS = 500


@pytest.fixture
def release() -> str:
    if not (RELEASE / "index.html").is_file():
        pytest.skip(f"the Lex Web UI release is not at {RELEASE} (set LEXSTREAM_WEB_UI_RELEASE)")
    return str(RELEASE)


@dataclass
class Traffic:
    """What the browser asked for off this machine, and how it was answered."""

    aws_answered: list[str] = field(default_factory=list)
    aws_unanswered: list[str] = field(default_factory=list)
    third_party_failed: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("requestfinished", self._finished)
        context.on("requestfailed", self._failed)

    def _finished(self, request: Any) -> None:
        if _is_aws(request.url):
            response = request.response()
            if response is not None and response.from_service_worker:
                self.aws_answered.append(request.url)
            else:
                self.aws_unanswered.append(f"{request.url} (not from the service worker)")

    def _failed(self, request: Any) -> None:
        if _is_aws(request.url):
            self.aws_unanswered.append(f"{request.url} ({request.failure})")
        elif urlsplit(request.url).hostname not in ("127.0.0.1", "localhost"):
            self.third_party_failed.append(request.url)

    def check(self) -> None:
        print(
            f"AWS requests answered by the stack: {len(self.aws_answered)}; third-party "
            f"assets that failed offline: {len(self.third_party_failed)}"
        )
        assert self.aws_unanswered == []
        assert any("cognito-identity" in url for url in self.aws_answered)
        assert any("runtime-v2-lex" in url for url in self.aws_answered)


def _is_aws(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith(".amazonaws.com")


class Sockets:
    """The page's socket as the stack saw it, with the CLI's lines for its disconnects."""

    def __init__(self, stack: LocalStack) -> None:
        self.disconnect_lines: list[str] = []
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        stack.activity.subscribe(self._on_event)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Connected):
            self.connected.set()
        if isinstance(event, Disconnected):
            self.disconnect_lines.append(str(describe(event)))
            self.disconnected.set()

    def wait_until_connected(self) -> None:
        # The release opens its socket once it holds credentials and does not wait for it
        # before a first question: a turn asked sooner finds no connection to stream to.
        assert self.connected.wait(timeout=30), "the page never opened its socket"


def web_ui_stack(make_stack: Callable[..., LocalStack], release: str, **settings: Any):
    return make_stack(
        web_ui=release, tokens_per_second=TOKEN_RATE, first_token_delay_s=0.2, **settings
    )


def ask_and_watch_it_stream(where: Page | Frame | FrameLocator, page: Page, question: str) -> None:
    """Type `question` as a user does; the answer must grow word by word in the streaming
    bubble, then the final answer replaces it."""
    plain = markdown_to_plain_text(generated(question))
    finals = where.locator(FINAL_BUBBLE).count()
    field_ = where.locator("input[type=text], textarea").first
    field_.fill(question)
    field_.press("Enter")
    streaming = where.locator(STREAMING_BUBBLE)
    expect(streaming).to_contain_text(plain.split()[0], timeout=20000)
    partials = []
    while streaming.count():
        try:
            text = streaming.inner_text(timeout=1000)
        except Exception:  # the bubble was replaced between count() and inner_text()
            break
        if text and (not partials or text != partials[-1]):
            partials.append(text)
        page.wait_for_timeout(100)
    # Partial text, more than once, each a start of the answer and shorter than it.
    assert len(partials) >= 2, partials
    for partial in partials:
        assert " ".join(plain.split()).startswith(" ".join(partial.split())), partial
        assert len(partial) < len(plain)
    # Then the final answer, rendered from Markdown, in a bubble of its own.
    answer = where.locator(FINAL_BUBBLE).nth(finals)
    expect(answer).to_contain_text(plain.split("\n")[-1].strip()[-30:], timeout=20000)
    assert answer.locator("h2").count() >= 1


@pytest.mark.parametrize("auth", [contract.AUTH_NONE, contract.AUTH_IAM])
def test_the_release_streams_word_by_word_then_shows_the_final_answer_for_two_turns(
    make_stack, release, browser: Browser, auth
):
    stack = web_ui_stack(make_stack, release, auth_mode=auth)
    sockets = Sockets(stack)
    context = browser.new_context()
    traffic = Traffic()
    traffic.watch(context)
    page = context.new_page()
    page.goto(stack.page_url)
    expect(page.locator("input[type=text]").first).to_be_visible(timeout=30000)
    sockets.wait_until_connected()
    ask_and_watch_it_stream(page, page, "What is streaming?")
    # A person reads the answer before asking again. The release appends each frame on a
    # 500 ms timer that its end of turn does not cancel: a question sent before those fire
    # shows "undefined" for the previous turn's last frames (its own timers, not ours). A
    # timer of the page's own, set now, fires after every one of them (HTML runs a window's
    # timers in order of their due time), however slowly the page runs on a busy machine.
    page.evaluate("ms => new Promise(done => setTimeout(done, ms))", RELEASE_TYPING_DELAY_MS)
    ask_and_watch_it_stream(page, page, "How do sockets work?")
    assert stack.gateway.counters.connects_accepted == 1
    # Closing the tab closes the socket, and the CLI says so.
    context.close()
    assert sockets.disconnected.wait(timeout=15)
    assert "closed by the client" in sockets.disconnect_lines[0]
    traffic.check()


def test_parent_html_streams_in_its_iframe(make_stack, release, browser: Browser):
    stack = web_ui_stack(make_stack, release, auth_mode=contract.AUTH_NONE)
    sockets = Sockets(stack)
    context = browser.new_context()
    traffic = Traffic()
    traffic.watch(context)
    page = context.new_page()
    # parent.html sends its config event from a jQuery script on code.jquery.com, which
    # cannot load offline; this sends the event that script would send.
    page.add_init_script(
        """document.addEventListener('receivelexconfig', () => document.dispatchEvent(
             new CustomEvent('loadlexconfig', {detail: {config: {lex: {}}}})), {once: true});"""
    )
    page.goto(stack.other_page_urls[0])
    frame = page.frame_locator("iframe")
    frame.locator(".min-button").click(timeout=30000)
    expect(frame.locator("input[type=text]").first).to_be_visible(timeout=15000)
    sockets.wait_until_connected()
    ask_and_watch_it_stream(frame, page, "What is streaming?")
    context.close()
    traffic.check()


@pytest.fixture
def other_origin() -> Iterator[tuple[str, Callable[[str], None]]]:
    """A page server on another loopback port; `set_page(html)` sets what `/` serves."""
    html: dict[str, str] = {"page": ""}

    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=html["page"], content_type="text/html")

    port = free_port()
    app = web.Application()
    app.router.add_get("/", serve)
    runner = web.AppRunner(app)
    loop_ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        import asyncio

        loop = asyncio.new_event_loop()
        state["loop"] = loop
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        loop_ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    loop_ready.wait(10)
    yield f"http://127.0.0.1:{port}", lambda page: html.__setitem__("page", page)
    state["loop"].call_soon_threadsafe(state["loop"].stop)
    thread.join(10)


@pytest.mark.parametrize("allowed", [False, True], ids=["without-allow-origin", "allowed"])
def test_a_page_on_another_port_frames_the_web_ui_only_when_its_origin_is_allowed(
    make_stack, release, browser: Browser, other_origin, allowed
):
    origin, set_page = other_origin
    stack = web_ui_stack(
        make_stack, release, auth_mode=contract.AUTH_IAM, allow_origins=(origin,) if allowed else ()
    )
    sockets = Sockets(stack)
    set_page(f'<iframe src="{stack.page_url}" width="900" height="700"></iframe>')
    context = browser.new_context()
    traffic = Traffic()
    traffic.watch(context)
    page = context.new_page()
    frame = page.frame_locator("iframe")
    if not allowed:
        # The browser refuses to show the stack's page inside another origin's page.
        with page.expect_event(
            "framenavigated",
            predicate=lambda navigated: (
                navigated.parent_frame is not None and navigated.url.startswith("chrome-error://")
            ),
            timeout=15000,
        ):
            page.goto(origin + "/")
        assert stack.gateway.counters.connects_accepted == 0
        context.close()
        return
    page.goto(origin + "/")
    expect(frame.locator("input[type=text]").first).to_be_visible(timeout=30000)
    sockets.wait_until_connected()
    ask_and_watch_it_stream(frame, page, "What is streaming?")
    context.close()
    traffic.check()
