"""The chat page in a real browser (Debian's Chromium, driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import generated
from playwright.sync_api import Browser, Page, expect

from local_stack.stack import LocalStack, StackSettings

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# A phone-sized screen: the page must read well there.
PHONE = {"width": 390, "height": 844}
IDLE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # Slow enough that the browser sees the answer grow; the page presigns (iam mode).
    # A short idle timeout and heartbeat stand in for AWS's 10 minutes and the Web UI's 9;
    # the heartbeat comes six times per timeout so a browser slowed by a loaded machine
    # still beats in time.
    settings = StackSettings(
        port=0,
        auth_mode="iam",
        tokens_per_second=60.0,
        first_token_delay_s=0.2,
        idle_timeout_s=IDLE_TIMEOUT_S,
        ping_interval_s=IDLE_TIMEOUT_S / 6,
    )
    with LocalStack(settings) as running:
        yield running


@pytest.fixture
def page(browser: Browser, stack: LocalStack) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(stack.page_url)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=15000)
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"


def ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.click("#composer button")


def test_partial_text_then_the_final_answer_rendered_as_markdown(page: Page, stack: LocalStack):
    question = "What is streaming?"
    ask(page, question)
    answer = page.locator(".message.bot").last
    # Partial text: the bubble shows streamed text while the turn is still running.
    expect(answer).to_have_class("message bot pending streaming", timeout=15000)
    partial = answer.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "local-chat-page-streaming.png"))
    assert partial and markdown_to_plain_text(generated(question)).startswith(partial[:20])
    assert answer.locator("h2").count() == 0
    # Then the final answer replaces it, rendered as Markdown.
    expect(answer).to_have_class("message bot final", timeout=30000)
    assert answer.locator("h2").first.inner_text() == "In short"
    assert answer.locator("strong").first.inner_text() == "streaming"
    assert answer.locator("ol > li").count() == 3
    assert answer.locator("ul > li").count() == 3
    assert answer.locator("code").first.inner_text() == "enabled: true"
    # Every chunk was shown, the last one included: the streamed text is the whole answer.
    assert answer.get_attribute("data-streamed") == markdown_to_plain_text(generated(question))
    assert int(answer.get_attribute("data-frames") or 0) > 1
    page.screenshot(path=str(ARTIFACTS / "local-chat-page.png"))
    # Phone-sized: nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_model_output_cannot_inject_html(page: Page, stack: LocalStack):
    page.evaluate(
        """async () => {
            const { renderMarkdown } = await import("/static/markdown.js");
            const holder = document.createElement("div");
            holder.id = "rendered";
            holder.innerHTML = renderMarkdown(
              '<img src=x onerror="window.hacked=1"> **bold** [x](javascript:alert(1)) ' +
              '[ok](https://example.com)'
            );
            document.body.append(holder);
        }"""
    )
    rendered = page.locator("#rendered")
    assert rendered.locator("img").count() == 0
    assert rendered.locator("strong").inner_text() == "bold"
    assert rendered.locator("a").count() == 1
    assert rendered.locator("a").get_attribute("href") == "https://example.com"
    assert page.evaluate("window.hacked") is None


def test_page_reconnects_after_the_socket_drops_and_streams_again(page: Page, stack: LocalStack):
    connected_before = stack.gateway.counters.connects_accepted
    # Drop every socket the way API Gateway does when a connection is deleted.
    management = boto3.client(
        "apigatewaymanagementapi", endpoint_url=stack.callback_url, region_name="us-east-1"
    )
    for connection_id in stack.gateway.open_connection_ids():
        management.delete_connection(ConnectionId=connection_id)
    expect(page.locator("#status")).not_to_have_attribute("data-state", "connected", timeout=10000)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=15000)
    assert stack.gateway.counters.connects_accepted > connected_before
    ask(page, "Does it still stream?")
    answer = page.locator(".message.bot").last
    expect(answer).to_have_class("message bot final", timeout=30000)
    assert answer.get_attribute("data-streamed") == markdown_to_plain_text(
        generated("Does it still stream?")
    )


def test_heartbeat_keeps_an_idle_page_connected(page: Page, stack: LocalStack):
    connects = stack.gateway.counters.connects_accepted
    received = stack.gateway.counters.messages_received
    # Two idle timeouts pass with nothing typed; only the pings keep the socket open.
    page.wait_for_timeout(IDLE_TIMEOUT_S * 2 * 1000)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    assert stack.gateway.counters.connects_accepted == connects
    assert stack.gateway.counters.messages_received >= received + 3
