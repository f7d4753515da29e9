"""The two streaming helpers behind one test interface: the Python one in this process,
the Node.js one in a real Node.js process (tests/functions/node_stream_driver.mjs).

`helper.open(event, **options)` takes the Python helper's keyword arguments and returns a
turn with the Python helper's attributes (`write`, `close(timeout_s=...)`, `text`,
`stats.<snake_case>`, `stop_reason`, `streaming`, `posting`, `outcome`), so a behaviour test
is written once and run against both. The Node.js turn's values are read from its
process each time they are asked for; its log lines reach this process's stdout in order,
before the reply of the command that printed them.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lexstream_runtime import aws, callback_url
from lexstream_runtime.lex import close_response
from lexstream_runtime.streaming import StreamingTurn, open_stream

from functions import node_package
from tests.conftest import fake_aws_session
from tests.functions.node_process import NodeError, NodeProcess, javascript_number

LANGUAGES = ("python", "node")
# Runs a behaviour test once against each helper (the `helper` fixture follows it).
both_helpers = pytest.mark.parametrize("helper_language", LANGUAGES)
DRIVER = Path(__file__).resolve().parent / "node_stream_driver.mjs"
NODE_EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "nodejs-fulfillment"

# The Python helper's option names and how the Node.js helper spells them (seconds there,
# milliseconds here).
_OPTIONS = {
    "flush_interval_s": ("flushIntervalMs", 1000),
    "max_frame_bytes": ("maxFrameBytes", None),
    "max_retries": ("maxRetries", None),
    "retry_backoff_s": ("retryBackoffMs", 1000),
    "gone_recheck_s": ("goneRecheckMs", 1000),
    "strip_markdown": ("stripMarkdown", None),
    "metrics_namespace": ("metricsNamespace", None),
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


class PythonHelper:
    """lexstream_runtime.streaming, looking rows up with `dynamodb`."""

    language = "python"

    def __init__(self, dynamodb: Any, dynamodb_endpoint: str) -> None:
        self.dynamodb = dynamodb
        self._endpoint = dynamodb_endpoint
        self._lookups: list[dict[str, Any]] = []

    def open(
        self,
        event: Any,
        *,
        record_lookups: bool = False,
        management_endpoint: str = "",
        **options: Any,
    ) -> StreamingTurn:
        dynamodb = self.dynamodb
        if record_lookups:
            # A client of its own on DynamoDB Local, recording the GetItem requests it sends.
            dynamodb = fake_aws_session().client("dynamodb", endpoint_url=self._endpoint)
            dynamodb.meta.events.register(
                "before-parameter-build.dynamodb.GetItem",
                lambda params, **_: self._lookups.append(dict(params)),
            )
        if management_endpoint:
            options["management_client"] = aws.management_client(management_endpoint)
        return open_stream(event, dynamodb=dynamodb, **options)

    def lookups(self) -> list[dict[str, Any]]:
        """The GetItem requests of turns opened with record_lookups=True, as sent."""
        return list(self._lookups)

    def close_response(self, event: Any, text: str, **options: Any) -> dict[str, Any]:
        return close_response(event, text, **options)

    def callback_url(self, endpoint: str, allowed: str | None = None) -> tuple[str, bool | None]:
        """(what is wrong with `endpoint` as a callback URL, whether it names `allowed`)."""
        same = None if allowed is None else callback_url._same_endpoint(endpoint, allowed)
        return callback_url.callback_url_problem(endpoint), same

    def resolve(
        self, endpoint: str, pinned: str = "", alias: str = "", loopback: bool = False
    ) -> tuple[str, str]:
        """What CallbackPolicy(pinned, alias, loopback) makes of `endpoint`."""
        return callback_url.CallbackPolicy(pinned, alias, loopback).resolve(endpoint)

    def is_stage_url(self, endpoint: str) -> bool:
        return callback_url.is_execute_api_stage_url(endpoint)

    def close(self) -> None:
        pass

    def as_received(self, value: Any) -> Any:
        """`value` as this helper receives it: unchanged (same process)."""
        return value


class NodeTurn:
    """One turn of the Node.js helper, as the Python helper's StreamingTurn reads."""

    def __init__(self, helper: NodeHelper, opened: dict[str, Any]) -> None:
        self._helper = helper
        self._id = opened["turn"]
        self._closed_state: dict[str, Any] | None = None

    def _state(self) -> dict[str, Any]:
        return self._helper.call("state", turn=self._id)

    def write(self, text: str) -> None:
        self._helper.call("write", turn=self._id, text=text)

    def close(self, timeout_s: float | None = 5.0) -> None:
        timeout_ms = None if timeout_s is None else timeout_s * 1000
        self._helper.call("close", turn=self._id, timeoutMs=timeout_ms)

    def __enter__(self) -> NodeTurn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def text(self) -> str:
        return self._state()["text"]

    @property
    def streaming(self) -> bool:
        return self._state()["streaming"]

    @property
    def posting(self) -> bool:
        return self._state()["posting"]

    @property
    def stop_reason(self) -> str | None:
        return self._state()["stopReason"]

    @property
    def outcome(self) -> str:
        return self._state()["outcome"]

    @property
    def stats(self) -> SimpleNamespace:
        return SimpleNamespace(**{_snake(k): v for k, v in self._state()["stats"].items()})


class NodeHelper(NodeProcess):
    """The Node.js helper (its built dist/) in a Node.js process started for one test.

    `environment` is added to this process's (LEXSTREAM_CALLBACK_URL and the like are read
    at the helper's cold init, as on Lambda).
    """

    language = "node"

    def __init__(self, environment: dict[str, str]) -> None:
        dist = node_package.build()
        super().__init__(DRIVER, [str(dist / "index.js")], environment)

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        try:
            return super().call(op, **arguments)
        except NodeError as error:
            # As the Python helper raises them: TypeError for a wrong type, ValueError for
            # a value out of range.
            if error.name == "TypeError":
                raise TypeError(error.message) from None
            if error.name == "RangeError":
                raise ValueError(error.message) from None
            raise

    def open(
        self,
        event: Any,
        *,
        record_lookups: bool = False,
        record_commands: bool = False,
        **options: Any,
    ) -> NodeTurn:
        settings: dict[str, Any] = {
            "recordLookups": record_lookups,
            "recordCommands": record_commands,
        }
        for name, value in options.items():
            if name == "management_endpoint":
                settings["managementEndpoint"] = value
                continue
            node_name, scale = _OPTIONS[name]
            settings[node_name] = value * scale if scale and value is not None else value
        return NodeTurn(self, self.call("open", event=event, options=settings))

    def lookups(self) -> list[dict[str, Any]]:
        """The GetItem requests of turns opened with record_lookups=True, as sent."""
        return self.call("lookups")["lookups"]

    def resolve(
        self, endpoint: str, pinned: str = "", alias: str = "", loopback: bool = False
    ) -> tuple[str, str]:
        """What the Node.js CallbackPolicy(pinned, alias, loopback) makes of `endpoint`."""
        policy = {"pinned": pinned, "alias": alias, "loopback": loopback}
        url, refusal = self.call("resolve", endpoint=endpoint, policy=policy)["resolved"]
        return url, refusal

    def is_stage_url(self, endpoint: str) -> bool:
        return self.call("resolve", endpoint=endpoint, policy=None)["stageUrl"]

    def as_received(self, value: Any) -> Any:
        """`value` as this helper receives it, as JSON (as Lex sends an event): a surrogate
        pair written as two separate code points arrives as the one character it encodes,
        since JavaScript strings are UTF-16, and a whole number beyond 2**53 as the nearest
        double, since JavaScript numbers are doubles."""
        return json.loads(json.dumps(value), parse_int=javascript_number)

    _CLOSE_OPTIONS = {
        "content_type": "contentType",
        "fulfillment_state": "fulfillmentState",
        "session_attributes": "sessionAttributes",
    }

    def close_response(self, event: Any, text: str, **options: Any) -> dict[str, Any]:
        named = {self._CLOSE_OPTIONS[name]: value for name, value in options.items()}
        return self.call("closeResponse", event=event, text=text, options=named)["response"]

    def callback_url(self, endpoint: str, allowed: str | None = None) -> tuple[str, bool | None]:
        """(what is wrong with `endpoint` as a callback URL, whether it names `allowed`)."""
        reply = self.call("callbackUrl", endpoint=endpoint, allowed=allowed)
        return reply["problem"], reply["same"]


def build_node_example() -> Path:
    """The TypeScript Bedrock example bundled as its package.json builds it (esbuild, the
    helper bundled in, the AWS SDK left to the runtime); the bundle's path.

    Bundled again only when the example's sources or the helper changed, one process at
    a time: test workers share the bundle, and one must never load it half rewritten."""
    node_package.build()
    bundle = NODE_EXAMPLE_DIR / "dist" / "index.mjs"
    stamp = NODE_EXAMPLE_DIR / "dist" / ".source-hash"
    digest = hashlib.sha256()
    for source in (NODE_EXAMPLE_DIR / "index.ts", NODE_EXAMPLE_DIR / "package.json"):
        digest.update(source.read_bytes() + b"\0")
    digest.update(node_package.BUILD_STAMP.read_bytes())
    wanted = digest.hexdigest()
    with node_package.one_build_at_a_time(NODE_EXAMPLE_DIR):
        if bundle.is_file() and stamp.is_file() and stamp.read_text() == wanted:
            return bundle
        built = subprocess.run(
            ["npm", "run", "--silent", "build", "--prefix", str(NODE_EXAMPLE_DIR)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if built.returncode != 0:
            raise RuntimeError(f"bundling {NODE_EXAMPLE_DIR} failed:\n{built.stdout}{built.stderr}")
        stamp.write_text(wanted)
    return bundle
