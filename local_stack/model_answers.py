"""What the local Bedrock answers: the request as the model sees it, its built-in Markdown
answer about the question, and the word-sized tokens an answer streams in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelRequest:
    """One request as the model saw it: what `answer` callables receive."""

    model_id: str
    operation: str  # "converse" or "converse-stream"
    question: str  # the text of the last user message
    system: str  # all system prompt blocks, joined
    max_tokens: int | None
    body: dict[str, Any] = field(repr=False)


def split_tokens(text: str) -> list[str]:
    """Word-sized tokens that join back to exactly `text` (whitespace travels in front)."""
    return re.findall(r"\s*\S+|\s+$", text)


_QUESTION_PREFIX = re.compile(
    r"^(please\s+)?(can|could|would)\s+you\s+|"
    r"^(what\s+can\s+you\s+tell\s+me\s+about|tell\s+me\s+(more\s+)?about|explain|describe|"
    r"what\s+(is|are|was|were)|how\s+(do|does|can|should)\s+(i|we|you)|why\s+(is|are|do|does))"
    r"\s+",
    re.IGNORECASE,
)


def question_topic(question: str) -> str:
    """The subject of a question: 'What is a WebSocket?' → 'a WebSocket'."""
    topic = question.strip().rstrip("?!. ")
    for _ in range(2):  # "Can you explain X" loses both lead-ins
        topic = _QUESTION_PREFIX.sub("", topic, count=1).strip()
    return topic or "your question"


def default_answer(request: ModelRequest) -> str:
    """A realistic, Markdown-formatted answer about the question, a few hundred tokens long.

    It exercises what a real model sends: headings, emphasis, lists, a code span and
    multi-byte characters, so streaming and rendering can be judged locally.
    """
    topic = question_topic(request.question)
    return (
        f"Here is an overview of **{topic}**.\n\n"
        "## In short\n"
        f"{topic[:1].upper() + topic[1:]} is easiest to understand from three angles: what it "
        "is for, how it works, and what tends to go wrong. Each is covered below, followed by "
        "a few practical next steps.\n\n"
        "## What it is for\n"
        f"People usually look into {topic} when they want a result that is *faster*, *more "
        "reliable* or *easier to operate* than what they have today. It pays off most when "
        "the same task happens often, so a small improvement adds up.\n\n"
        "## How it works\n"
        "1. **Start small.** Pick one concrete case and describe the expected outcome.\n"
        "2. **Measure.** Record how long it takes and how often it fails — before and after.\n"
        "3. **Iterate.** Change one thing at a time, so you know which change helped.\n\n"
        "## What to watch out for\n"
        "- Hidden limits: quotas, timeouts and payload sizes usually surface late.\n"
        "- Error handling: decide up front what the user sees when a step fails.\n"
        "- Cost: anything billed per request grows with traffic, so cap it early.\n\n"
        "## Next steps\n"
        f"Try a minimal example of {topic}, for instance with a config flag such as "
        "`enabled: true`, and compare the numbers. If they look good, roll it out step by "
        "step and keep an eye on the metrics. Bonne chance — ¡buena suerte! 🚀"
    )
