"""Example Lex V2 fulfillment: answer with a Bedrock model, streaming to the Lex Web UI.

Streaming turns use `converse_stream` and post the text as it arrives, as plain text
(the model's Markdown rendered by the helper's `strip_markdown`); other turns use
`converse` and return the whole answer. Either way the turn ends with a Lex `Close`
carrying the full text.

Lex's RecognizeText gives up after about 30 s, so the answer is cut off in time: at the
turn budget (25 s, or the function's remaining time less a margin, whichever is
shorter) the turn stops taking the model's text and returns what it has, with a short
note, even when the model has stalled mid-read.
A model error part-way keeps the partial text and ends with a polite sentence.

Configuration (set by the component): LEXSTREAM_MODEL_ID (a model or inference profile
id), LEXSTREAM_SYSTEM_PROMPT (optional), LEXSTREAM_MAX_TOKENS (a whole number >= 1).
"""

from __future__ import annotations

from lexstream_runtime import cold_init  # first: the init below runs without the cycle collector

# isort: split
import threading
import time
from typing import Any

from lexstream_runtime import aws, contract, environment
from lexstream_runtime.lex import close_response
from lexstream_runtime.logs import log_json
from lexstream_runtime.streaming import StreamingTurn, open_stream

MODEL_ID = environment.required(contract.ENV_MODEL_ID)
SYSTEM_PROMPT = environment.optional(contract.ENV_SYSTEM_PROMPT).strip()
MAX_TOKENS = environment.positive_int(contract.ENV_MAX_TOKENS)

# Lex waits ~30 s for the whole turn; 25 s leaves room for the final posts and Lex itself.
TURN_BUDGET_S = 25.0
# Kept back from the Lambda's own remaining time for closing the stream and returning.
RETURN_MARGIN_S = 1.0
BEDROCK = aws.bedrock_runtime_client(read_timeout_s=TURN_BUDGET_S)
DYNAMODB = aws.dynamodb_client()

CUT_SHORT_NOTE = "\n\n_(The answer was cut short to fit the time limit.)_"
PARTIAL_APOLOGY = "\n\nSorry, something went wrong and I could not finish this answer."
FULL_APOLOGY = "Sorry, I cannot answer right now. Please try again in a moment."
EMPTY_QUESTION = "Please type a question."
cold_init.done()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deadline = time.monotonic() + _budget_s(context)
    question = event.get("inputTranscript") if isinstance(event, dict) else None
    # Models answer in Markdown, which the stock Web UI would stream as raw `**` and `##`:
    # stream its plain-text rendering; the final message keeps the Markdown.
    with open_stream(event, dynamodb=DYNAMODB, strip_markdown=True) as stream:
        if not isinstance(question, str) or not question.strip():
            stream.write(EMPTY_QUESTION)
        else:
            generation = Generation(stream)
            work = _stream_answer if stream.streaming else _whole_answer
            if not generation.run(work, question, deadline):
                log_json("answer_cut_short", model=MODEL_ID, characters=stream.stats.characters)
                stream.write(CUT_SHORT_NOTE)
            elif generation.error is not None:
                _apologise(stream, generation.error)
        stream.close(timeout_s=max(0.2, deadline + RETURN_MARGIN_S / 2 - time.monotonic()))
    return close_response(event, stream.text)


def _budget_s(context: Any) -> float:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: None)()
    if remaining_ms is None:
        return TURN_BUDGET_S
    return max(0.5, min(TURN_BUDGET_S, remaining_ms / 1000 - RETURN_MARGIN_S))


class Generation:
    """One model call on its own thread, so the turn can return at its deadline.

    A read blocked on a stalled model cannot be interrupted from another thread (closing
    the stream does not wake it), so the handler waits for the call only until the
    deadline and then stops taking its text: nothing written after the cut reaches the
    answer, which keeps the final message a clean prefix plus the note.
    """

    def __init__(self, stream: StreamingTurn) -> None:
        self.stream = stream
        self.error: BaseException | None = None
        self.cut = False
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            if not self.cut:
                self.stream.write(text)

    def run(self, work: Any, question: str, deadline: float) -> bool:
        """Run `work(self, question)`; True when it finished before `deadline`.

        After a cut the thread is left to end on its own read timeout: closing the model
        stream from here would block on the very read it should interrupt.
        """
        thread = threading.Thread(target=self._guarded, args=(work, question), daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if thread.is_alive():
                self.cut = True
                return False
        return True

    def _guarded(self, work: Any, question: str) -> None:
        try:
            work(self, question)
        except Exception as error:  # any failure ends in a polite answer, never a failed turn
            with self._lock:
                if not self.cut:
                    self.error = error


def _request(question: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "modelId": MODEL_ID,
        "messages": [{"role": "user", "content": [{"text": question}]}],
        "inferenceConfig": {"maxTokens": MAX_TOKENS},
    }
    if SYSTEM_PROMPT:
        request["system"] = [{"text": SYSTEM_PROMPT}]
    return request


def _stream_answer(generation: Generation, question: str) -> None:
    events = BEDROCK.converse_stream(**_request(question))["stream"]
    try:
        for item in events:
            if generation.cut:
                return
            text = item.get("contentBlockDelta", {}).get("delta", {}).get("text")
            if text:
                generation.write(text)
    finally:
        events.close()


def _whole_answer(generation: Generation, question: str) -> None:
    reply = BEDROCK.converse(**_request(question))
    content = reply.get("output", {}).get("message", {}).get("content", [])
    generation.write("".join(block.get("text", "") for block in content))


def _apologise(stream: StreamingTurn, error: BaseException) -> None:
    log_json(
        "model_error",
        model=MODEL_ID,
        error=aws.error_code(error),
        partialCharacters=stream.stats.characters,
    )
    stream.write(PARTIAL_APOLOGY if stream.stats.characters else FULL_APOLOGY)
