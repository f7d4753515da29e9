"""A Lex V2 runtime for one bot: RecognizeText turns every message into a fulfillment call.

boto3's `lexv2-runtime` client reaches it unchanged with `endpoint_url` (it serves
`POST /bots/{botId}/botAliases/{botAliasId}/botLocales/{localeId}/sessions/{sessionId}/text`
and DeleteSession, `DELETE` on the session's path).
There is no language model of intents here: every utterance matches one intent (the
Lex Web UI's streaming bots use FallbackIntent), which is ready for fulfillment, so each
turn builds a Lex V2 `FulfillmentCodeHook` event and invokes the fulfillment function with
it, as Lex would. Session attributes persist per session between turns, as in Lex.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from lexstream_runtime import contract

from .stopping import within

log = logging.getLogger("lexstream.local.lex")

Handler = Callable[[web.Request], Awaitable[web.Response]]

# Lex V2 accepts at most 1024 characters of text per RecognizeText call.
MAX_TEXT_CHARACTERS = 1024
# Lex gives up on a fulfillment that has not answered after about 30 seconds.
TURN_TIMEOUT_SECONDS = 30.0


class LexRuntime:
    """RecognizeText for one bot alias and locale, backed by one fulfillment function.

    Args:
        fulfillment: `fn(event) -> Lex V2 response dict`, for example
            `LambdaFunction.lexstream("bedrock_fulfillment", env).invoke`.
        bot_id: the bot id in paths and events. Default "LEXSTREAM1".
        bot_alias_id: the alias id. Default "TSTALIASID" (Lex's test alias).
        locale_id: the locale. Default "en_US".
        intent_name: the intent every utterance matches. Default "FallbackIntent".
        streaming_attributes: session attributes to set on every turn that does not
            carry them itself, the way the Lex Web UI sets `streamingEndpoint` and
            `streamingDynamoDbTable`. Default none (turns do not stream unless the client
            sends them).
        turn_timeout_s: how long a turn may take before it fails with
            DependencyFailedException, like Lex's own limit. Default 30.
        max_workers: fulfillments running at once. Default 64.
    """

    def __init__(
        self,
        fulfillment: Callable[[dict[str, Any]], Any],
        *,
        bot_id: str = "LEXSTREAM1",
        bot_alias_id: str = "TSTALIASID",
        locale_id: str = "en_US",
        intent_name: str = "FallbackIntent",
        streaming_attributes: Mapping[str, str] | None = None,
        turn_timeout_s: float = TURN_TIMEOUT_SECONDS,
        max_workers: int = 64,
    ) -> None:
        if not callable(fulfillment):
            raise TypeError(f"fulfillment must be callable, got {type(fulfillment).__name__}")
        if turn_timeout_s <= 0:
            raise ValueError(f"turn_timeout_s must be positive, got {turn_timeout_s!r}")
        self.fulfillment = fulfillment
        self.bot_id = bot_id
        self.bot_alias_id = bot_alias_id
        self.locale_id = locale_id
        self.intent_name = intent_name
        self.streaming_attributes = dict(streaming_attributes or {})
        # A `streamingEndpoint` value → the callback URL it stands for: the Lex Web UI
        # turns only `wss://` into `https://`, so a local `ws://` socket URL arrives as it
        # is, and a fulfillment that posts to the attribute as given needs the http URL.
        self.endpoint_aliases: dict[str, str] = {}
        self.turn_timeout_s = turn_timeout_s
        self.turns = 0
        self._sessions: dict[str, dict[str, str]] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="lambda-fulfillment"
        )

    @property
    def path(self) -> str:
        """The RecognizeText path, with `{sessionId}` left to fill in."""
        return (
            f"/bots/{self.bot_id}/botAliases/{self.bot_alias_id}"
            f"/botLocales/{self.locale_id}/sessions/{{sessionId}}/text"
        )

    def routes(
        self,
        prefix: str = "",
        authorize: Callable[[web.Request], Awaitable[web.Response | None]] | None = None,
    ) -> list[web.RouteDef]:
        """The aiohttp routes to serve (any bot path, so wrong ids get Lex's 404).

        Args:
            prefix: a path the routes are served under. Default none.
            authorize: `await authorize(request)` → an error response that refuses the
                call, or None to take it. Default: every call is taken.
        """
        session = (
            f"{prefix}/bots/{{botId}}/botAliases/{{botAliasId}}/botLocales/{{localeId}}"
            "/sessions/{sessionId}"
        )
        handlers = {
            ("POST", session + "/text"): self._recognize_text,
            ("DELETE", session): self._delete_session,
        }
        if authorize is None:
            return [
                web.route(method, path, handler) for (method, path), handler in handlers.items()
            ]

        def authorized(handler: Handler) -> Handler:
            async def checked(request: web.Request) -> web.Response:
                refusal = await authorize(request)
                return refusal if refusal is not None else await handler(request)

            return checked

        return [
            web.route(method, path, authorized(handler))
            for (method, path), handler in handlers.items()
        ]

    def close(self) -> None:
        """Stop taking turns; running fulfillments get a few seconds to finish."""
        within(
            3.0,
            "the running fulfillments",
            lambda: self._executor.shutdown(True, cancel_futures=True),
        )

    def fulfillment_event(
        self,
        session_id: str,
        text: str,
        attributes: Mapping[str, str],
        request_attributes: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The Lex V2 fulfillment code hook event for one turn."""
        intent = {
            "name": self.intent_name,
            "slots": {},
            "state": "ReadyForFulfillment",
            "confirmationState": "None",
        }
        return {
            "messageVersion": "1.0",
            "invocationSource": "FulfillmentCodeHook",
            "inputMode": "Text",
            "responseContentType": "text/plain; charset=utf-8",
            "sessionId": session_id,
            "inputTranscript": text,
            "bot": {
                "id": self.bot_id,
                "name": "LexstreamLocalBot",
                "aliasId": self.bot_alias_id,
                "aliasName": "TestBotAlias",
                "localeId": self.locale_id,
                "version": "DRAFT",
            },
            "interpretations": [{"intent": intent, "interpretationSource": "Lex"}],
            "requestAttributes": dict(request_attributes or {}),
            "sessionState": {
                "activeContexts": [],
                "originatingRequestId": str(uuid.uuid4()),
                "sessionAttributes": dict(attributes),
                "intent": dict(intent),
            },
            "transcriptions": [
                {
                    "transcription": text,
                    "transcriptionConfidence": 1.0,
                    "resolvedContext": {"intent": self.intent_name},
                    "resolvedSlots": {},
                }
            ],
        }

    def _session_problem(self, ids: Mapping[str, str]) -> web.Response | None:
        """Lex's error for a path naming another bot or a malformed session id."""
        if (ids["botId"], ids["botAliasId"], ids["localeId"]) != (
            self.bot_id,
            self.bot_alias_id,
            self.locale_id,
        ):
            return _error(
                "ResourceNotFoundException",
                404,
                f"no bot {ids['botId']}/{ids['botAliasId']}/{ids['localeId']}; this runtime "
                f"serves {self.bot_id}/{self.bot_alias_id}/{self.locale_id}",
            )
        if not contract.SESSION_ID_PATTERN.fullmatch(ids["sessionId"]):
            return _error(
                "ValidationException", 400, "sessionId must be 2-100 characters of [0-9a-zA-Z._:-]"
            )
        return None

    async def _delete_session(self, request: web.Request) -> web.Response:
        # DeleteSession: the session's attributes are forgotten, as Lex forgets them.
        ids = request.match_info
        problem = self._session_problem(ids)
        if problem is not None:
            return problem
        if self._sessions.pop(ids["sessionId"], None) is None:
            return _error("ResourceNotFoundException", 404, "the session does not exist")
        return web.json_response(
            {
                "botId": self.bot_id,
                "botAliasId": self.bot_alias_id,
                "localeId": self.locale_id,
                "sessionId": ids["sessionId"],
            }
        )

    async def _recognize_text(self, request: web.Request) -> web.Response:
        ids = request.match_info
        problem = self._session_problem(ids)
        if problem is not None:
            return problem
        session_id = ids["sessionId"]
        try:
            body = await request.json()
        except ValueError:
            return _error("ValidationException", 400, "the request body must be JSON")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT_CHARACTERS:
            return _error(
                "ValidationException", 400, f"text must be 1-{MAX_TEXT_CHARACTERS} characters"
            )
        attributes = self._turn_attributes(session_id, body.get("sessionState"))
        event = self.fulfillment_event(session_id, text, attributes, body.get("requestAttributes"))
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            response = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self.fulfillment, event),
                self.turn_timeout_s,
            )
        except TimeoutError:
            log.info("turn %s timed out after %.0f s", session_id, self.turn_timeout_s)
            return _error("DependencyFailedException", 424, "the fulfillment timed out")
        except Exception as error:
            error_type = getattr(error, "error_type", None)
            if error_type is None:
                log.exception("fulfillment failed for %s", session_id)
                return _error("DependencyFailedException", 424, f"the fulfillment failed: {error}")
            # A Lambda function's error, in Lex's words: Lambda marks every error the
            # function did not handle itself as Unhandled (its type is in the payload).
            log.info("turn %s: the fulfillment failed with %s", session_id, error_type)
            return _error(
                "DependencyFailedException",
                424,
                "Invalid Lambda Response: Received error response from Lambda: Unhandled",
            )
        state = response.get("sessionState") if isinstance(response, dict) else None
        if not isinstance(state, dict) or "dialogAction" not in state:
            return _error(
                "DependencyFailedException",
                424,
                "Invalid Lambda Response: the response has no sessionState.dialogAction",
            )
        self._sessions[session_id] = dict(state.get("sessionAttributes") or {})
        messages = response.get("messages") or []
        self.turns += 1
        characters = sum(len(str(m.get("content", ""))) for m in messages)
        streaming = contract.SESSION_ATTR_ENDPOINT in attributes
        # The stack reports turns on its activity channel; this line is for other callers.
        log.debug(
            "turn %s: %d characters in %.1f s%s",
            session_id,
            characters,
            time.monotonic() - started,
            ", streaming requested" if streaming else "",
        )
        return web.json_response(
            {
                "messages": messages,
                "sessionState": state,
                "interpretations": event["interpretations"],
                "requestAttributes": event["requestAttributes"],
                "sessionId": session_id,
            }
        )

    def _turn_attributes(self, session_id: str, session_state: Any) -> dict[str, str]:
        # A client that sends sessionState replaces the stored attributes, as in Lex.
        if isinstance(session_state, dict) and isinstance(
            session_state.get("sessionAttributes"), dict
        ):
            attributes = {str(k): str(v) for k, v in session_state["sessionAttributes"].items()}
        else:
            attributes = dict(self._sessions.get(session_id, {}))
        for name, value in self.streaming_attributes.items():
            attributes.setdefault(name, value)
        endpoint = attributes.get(contract.SESSION_ATTR_ENDPOINT)
        if endpoint in self.endpoint_aliases:
            attributes[contract.SESSION_ATTR_ENDPOINT] = self.endpoint_aliases[endpoint]
        return attributes


def _error(error_type: str, status: int, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
    )
