"""Lex V2 fulfillment events in, Lex V2 `Close` responses out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Message types that carry their text in `content` (ImageResponseCard carries a card).
CONTENT_TYPES = ("CustomPayload", "PlainText", "SSML")
FULFILLMENT_STATES = ("Fulfilled", "Failed")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def session_state(event: Any) -> Mapping[str, Any]:
    """The event's sessionState, or an empty mapping when it has none."""
    return _mapping(_mapping(event).get("sessionState"))


def attributes_of(event: Any) -> dict[str, Any]:
    """A copy of the turn's session attributes ({} when Lex sent none, or null)."""
    return dict(_mapping(session_state(event).get("sessionAttributes")))


def close_response(
    event: Mapping[str, Any],
    text: str,
    *,
    content_type: str = "CustomPayload",
    fulfillment_state: str = "Fulfilled",
    session_attributes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Lex V2 response that ends the turn with `text` as its one message.

    Works the same for streaming and non-streaming turns: the Lex Web UI replaces the
    streamed text with this final message, so it must carry the full text.

    Args:
        event: the Lex V2 fulfillment event of this turn.
        text: the full answer. When empty, no message is sent and Lex falls back to the
            bot's own closing response.
        content_type: "CustomPayload" (default, as the Lex Web UI's reference fulfillment
            uses), "PlainText" or "SSML".
        fulfillment_state: the intent's final state, "Fulfilled" (default) or "Failed".
        session_attributes: the attributes to keep, strings to strings. Default: the
            event's own, unchanged, so the Web UI's streaming attributes survive into the
            next turn.
    """
    if content_type not in CONTENT_TYPES:
        raise ValueError(f"content_type {content_type!r} is not one of {', '.join(CONTENT_TYPES)}")
    if fulfillment_state not in FULFILLMENT_STATES:
        raise ValueError(
            f"fulfillment_state {fulfillment_state!r} is not one of {', '.join(FULFILLMENT_STATES)}"
        )
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    if session_attributes is None:
        kept = attributes_of(event)  # as Lex sent them: strings already
    else:
        kept = dict(session_attributes)
        # Lex V2 takes session attributes as a map of strings only: any other value makes
        # it reject the whole response and fail the turn, so refuse it here, by name.
        for key, value in kept.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    f"session attribute {key!r} must map a str to a str (Lex V2 accepts "
                    f"only strings), got {type(value).__name__}; convert it, e.g. with "
                    "json.dumps"
                )
    state: dict[str, Any] = {
        "sessionAttributes": kept,
        "dialogAction": {"type": "Close"},
    }
    intent = _mapping(session_state(event).get("intent"))
    if intent:
        state["intent"] = {**intent, "state": fulfillment_state}
    response: dict[str, Any] = {"sessionState": state}
    if text:
        response["messages"] = [{"contentType": content_type, "content": text}]
    return response
