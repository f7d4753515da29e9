"""The whole stack against what the stock Lex Web UI 0.24.1 sends, in both auth modes.

Each client here connects and chats exactly as that release does (tests/stock_web_ui):
a `lex-web-ui-` + 4 hex session id, a connect presigned for the host name without its
port, and both streaming attributes, with the endpoint derived from the ws:// URL, on
every typed turn.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import StockChatSession, generated

pytestmark = pytest.mark.timeout(120)
MODES = [contract.AUTH_NONE, contract.AUTH_IAM]


@pytest.mark.parametrize("auth", MODES)
def test_the_stock_client_is_admitted_and_its_typed_turn_streams_readable_text(make_stack, auth):
    stack = make_stack(auth_mode=auth)

    async def scenario() -> tuple[str, str, int]:
        chat = StockChatSession(stack)
        await chat.connect()
        final = await chat.ask("How do stock clients stream?")
        plain = markdown_to_plain_text(final)
        streamed = await chat.wait_for_text(len(plain))
        await chat.close()
        return final, streamed, len(chat.frames)

    final, streamed, frames = asyncio.run(scenario())
    assert final == generated("How do stock clients stream?")
    # The Web UI shows frames as escaped text: they carry the answer without Markdown,
    # all of it, in order; the final message keeps the Markdown.
    assert streamed == markdown_to_plain_text(final)
    assert "**" not in streamed and "## " not in streamed
    assert frames > 3


@pytest.mark.parametrize("auth", MODES)
def test_a_second_stock_client_drawing_the_same_id_is_refused_and_still_gets_its_answers(
    make_stack, auth
):
    stack = make_stack(auth_mode=auth)

    async def scenario() -> tuple[int, str, str, str]:
        owner = StockChatSession(stack)
        await owner.connect()
        # Another user whose page drew the same 16-bit id (another identity in iam mode).
        other = StockChatSession(stack, session_id=owner.session_id)
        try:
            await other.connect()
            status = 101
        except aiohttp.WSServerHandshakeError as refused:
            status = refused.status
        final = await other.ask("Does my chat still work?")
        # The Lex session is shared too: its turns stream to the owner's socket.
        leaked = await owner.wait_for_text(len(markdown_to_plain_text(final)))
        await owner.close()
        await other.close()
        return status, final, other.text, leaked

    status, final, streamed, leaked = asyncio.run(scenario())
    assert status == 403
    # Refused, the page streams nothing but its chat still works (the final answer).
    assert final == generated("Does my chat still work?")
    assert streamed == ""
    # What no backend can prevent while two users share one Lex session id (see
    # docs/security.md): the second user's answer streams to the first user's page.
    assert leaked == markdown_to_plain_text(final)
