"""What the local stack runs, and the checks a setting must pass before it starts.

Settings left as None take the defaults that Pulumi.yaml declares for a deployment, so
the local stack runs what `pulumi up` would deploy without any stack config.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import yaml
from lexstream_runtime import contract

from components.args import ExampleFulfillmentArgs, InvalidArgumentError, StreamingBackendArgs

from .web_ui.build import WebUiError, checked_build, is_origin
from .web_ui.loader_config import read_user_config

PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"
# The Lex Web UI sends its heartbeat every 9 minutes, inside API Gateway's 10-minute
# idle timeout.
PING_INTERVAL_SECONDS = 9 * 60
_HANDLER_PATTERN = re.compile(r"(?P<path>[^:]+\.[A-Za-z]+):(?P<function>[A-Za-z_$][A-Za-z0-9_$]*)")
# The handler files the local stack runs: Python, and Node.js's module kinds.
HANDLER_SUFFIXES = (".py", ".mjs", ".js", ".cjs")


class StackError(Exception):
    """The stack cannot start as asked; the message says what to change.

    `setting` names the StackSettings field at fault, when there is one, so that the
    command line can name its own flag instead (see `describe`).
    """

    def __init__(self, problem: str, *, setting: str | None = None) -> None:
        self.problem = problem
        self.setting = setting
        super().__init__(self.describe(lambda name: name))

    def describe(self, name_of: Callable[[str], str]) -> str:
        """The message, with the setting named by `name_of(setting)`."""
        return self.problem if self.setting is None else f"{name_of(self.setting)} {self.problem}"


# Settings that are also component arguments (argument → setting): the component's own
# rules check them, so the local stack refuses exactly what a deployment would.
_COMPONENT_SETTINGS = {
    "auth_mode": "auth_mode",
    "stage_name": "stage",
    "quota_limit": "quota_limit",
    "quota_period": "quota_period",
    "quota_per_identity_limit": "quota_per_identity_limit",
    "quota_per_source_limit": "quota_per_source_limit",
    "example_fulfillment.model_id": "model_id",
    "example_fulfillment.system_prompt": "system_prompt",
    "example_fulfillment.max_tokens": "max_tokens",
}


def project_defaults(path: Path = PROJECT_FILE) -> dict[str, Any]:
    """The config defaults declared in Pulumi.yaml, by key (e.g. "authMode": "iam")."""
    project = yaml.safe_load(path.read_text())
    return {key: spec.get("default") for key, spec in (project.get("config") or {}).items()}


# What the chat page may send as its session id (see StackSettings.session_ids).
SESSION_ID_KINDS = ("stock", "identity")


@dataclass
class StackSettings:
    """What the local stack runs. None means "the default Pulumi.yaml declares".

    Args:
        port: the one loopback port for page, socket, management API and Lex; 0 picks
            a free port. Default 0 (the `scripts/local` command uses 8080).
        auth_mode: "iam" (presigned connect URLs) or "none". Default: Pulumi.yaml.
        stage: the API stage name, the first path segment. Default: Pulumi.yaml.
        region: the region in identities, signatures and SDK clients. Default us-east-1.
        tokens_per_second: speed of the built-in model. Default 40.
        first_token_delay_s: the built-in model's "thinking" time. Default 0.3.
        dynamodb_endpoint: use this DynamoDB instead of the embedded one (DynamoDB Local,
            or a real endpoint with your credentials). Default None (embedded).
        use_bedrock: answer with real Bedrock, using your AWS credentials. Default False.
        model_id: the model for the fulfillment. Default: Pulumi.yaml's exampleModelId.
        handler: `path/to/file.py:function` (or `.mjs`, `.js`, `.cjs` for Node.js), a
            fulfillment to run instead of the Bedrock example, with its folder as the
            task root; a Python one finds `lexstream_runtime`, as in the layer.
            Default None.
        quota_limit, quota_period, quota_per_identity_limit, quota_per_source_limit: the
            request quota.
            Default: Pulumi.yaml.
        throttle_rate, throttle_burst: stage throttling. Default: Pulumi.yaml.
        callback_latency_s: delay added to every management API call. Default 0.
        idle_timeout_s, max_connection_s: socket limits. Default: AWS's 10 min and 2 h.
        ping_interval_s: the chat page's heartbeat interval. Default 9 minutes.
        session_ids: what the chat page sends as its session id: "stock" (`lex-web-ui-`
            + 4 random hex digits per page load, as the stock Lex Web UI 0.24.1 does) or
            "identity" (its Cognito identity id, as a patched client may). Default
            "stock".
        connection_table, quota_table: table names. Default lexstream-local-*.
        web_ui: a folder holding a built Lex Web UI to serve instead of the chat page,
            e.g. `aws-lex-web-ui/dist` (see `local_stack.web_ui`). Default None.
        allow_origins: other origins, exactly as a browser sends them (e.g.
            `http://127.0.0.1:5173`), whose pages may use the stack: open sockets, call
            the identity and Lex endpoints (CORS) and frame the Web UI. Default none:
            only the stack's own origin.
    """

    port: int = 0
    auth_mode: str | None = None
    stage: str | None = None
    region: str = "us-east-1"
    tokens_per_second: float = 40.0
    first_token_delay_s: float = 0.3
    dynamodb_endpoint: str | None = None
    use_bedrock: bool = False
    model_id: str | None = None
    handler: str | None = None
    quota_limit: int | None = None
    quota_period: str | None = None
    quota_per_identity_limit: int | None = None
    quota_per_source_limit: int | None = None
    throttle_rate: float | None = None
    throttle_burst: int | None = None
    callback_latency_s: float = 0.0
    idle_timeout_s: float = contract.IDLE_TIMEOUT_SECONDS
    max_connection_s: float = contract.MAX_CONNECTION_SECONDS
    ping_interval_s: float = PING_INTERVAL_SECONDS
    session_ids: str = "stock"
    connection_table: str = "lexstream-local-connections"
    quota_table: str = "lexstream-local-quota"
    system_prompt: str | None = None
    max_tokens: int | None = None
    web_ui: str | None = None
    allow_origins: tuple[str, ...] = ()

    def resolved(self, defaults: Mapping[str, Any] | None = None) -> StackSettings:
        """A copy with every None filled from Pulumi.yaml's defaults, checked."""
        declared = project_defaults() if defaults is None else defaults
        settings = replace(
            self,
            auth_mode=_given(self.auth_mode, declared["authMode"]),
            stage=_given(self.stage, declared["stageName"]),
            model_id=_given(self.model_id, declared["exampleModelId"]),
            system_prompt=(
                self.system_prompt
                if self.system_prompt is not None
                else declared["exampleSystemPrompt"]
            ),
            max_tokens=_given(self.max_tokens, declared["exampleMaxTokens"]),
            quota_limit=_given(self.quota_limit, declared["quotaLimit"]),
            quota_period=_given(self.quota_period, declared["quotaPeriod"]),
            quota_per_identity_limit=_given(
                self.quota_per_identity_limit, declared["quotaPerIdentityLimit"]
            ),
            quota_per_source_limit=_given(
                self.quota_per_source_limit, declared["quotaPerSourceLimit"]
            ),
            throttle_rate=_given(self.throttle_rate, declared["throttleRateLimit"]),
            throttle_burst=_given(self.throttle_burst, declared["throttleBurstLimit"]),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise StackError naming any setting that cannot work, and what would."""
        _check_component_rules(self)
        if self.session_ids not in SESSION_ID_KINDS:
            raise StackError(
                f"must be one of {', '.join(SESSION_ID_KINDS)} (got {self.session_ids!r})",
                setting="session_ids",
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise StackError(f"must be a whole number (got {self.port!r})", setting="port")
        if not 0 <= self.port <= 65535:
            raise StackError(
                f"must be a port number 0-65535, 0 for any free port (got {self.port})",
                setting="port",
            )
        if self.region not in known_regions():
            raise StackError(
                f"must be an AWS region, e.g. us-east-1 or eu-west-1 (got {self.region!r})",
                setting="region",
            )
        if not (math.isfinite(self.tokens_per_second) and self.tokens_per_second > 0):
            raise StackError(
                f"must be a number above 0 (got {self.tokens_per_second!r})",
                setting="tokens_per_second",
            )
        if not (math.isfinite(self.callback_latency_s) and self.callback_latency_s >= 0):
            raise StackError(
                f"must be a number of seconds, 0 or more (got {self.callback_latency_s!r})",
                setting="callback_latency_s",
            )
        if self.handler is not None:
            handler_parts(self.handler)
        # --- a user's own Web UI (local_stack.web_ui) ---
        if self.web_ui is not None:
            try:
                read_user_config(checked_build(self.web_ui))
            except WebUiError as error:
                raise StackError(error.problem, setting="web_ui") from None
        for origin in self.allow_origins:
            if not is_origin(origin):
                raise StackError(
                    "must be an origin as a browser sends it, scheme://host[:port] with no "
                    f"path, e.g. http://127.0.0.1:5173 (got {origin!r})",
                    setting="allow_origins",
                )
        endpoint = self.dynamodb_endpoint
        if endpoint is not None and (
            urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).hostname
        ):
            raise StackError(
                "must be an http:// or https:// URL, e.g. http://127.0.0.1:8000 for "
                f"DynamoDB Local (got {endpoint!r})",
                setting="dynamodb_endpoint",
            )

    @property
    def all_local(self) -> bool:
        """True when nothing leaves this machine, so fake credentials are enough."""
        return not self.use_bedrock and (
            self.dynamodb_endpoint is None or _is_loopback(self.dynamodb_endpoint)
        )


def _given(value: Any, default: Any) -> Any:
    # Only None means "not given": a 0 or "" is checked, never replaced by the default.
    return default if value is None else value


def _check_component_rules(settings: StackSettings) -> None:
    try:
        StreamingBackendArgs(
            auth_mode=settings.auth_mode,
            stage_name=settings.stage,
            quota_limit=settings.quota_limit,
            quota_period=settings.quota_period,
            quota_per_identity_limit=settings.quota_per_identity_limit,
            quota_per_source_limit=settings.quota_per_source_limit,
            example_fulfillment=ExampleFulfillmentArgs(
                model_id=settings.model_id,
                system_prompt=settings.system_prompt,
                max_tokens=settings.max_tokens,
            ),
        )
    except InvalidArgumentError as error:
        setting = _COMPONENT_SETTINGS.get(error.argument)
        if setting is None or error.related:
            raise StackError(str(error)) from None
        raise StackError(error.problem, setting=setting) from None


def known_regions() -> frozenset[str]:
    """Every region botocore knows, in every partition: the SDK and the embedded
    DynamoDB accept exactly these."""
    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("dynamodb", partition_name=partition)
    )


def handler_parts(spec: str) -> tuple[Path, str]:
    """`path/to/file.py:function` (or `.mjs`, `.js`, `.cjs`) → (absolute file path,
    function name), checked."""
    match = _HANDLER_PATTERN.fullmatch(spec)
    if match is None:
        raise StackError(
            f"must look like path/to/file.py:function or path/to/file.mjs:function, e.g. "
            f"my_bot/fulfillment.py:handler (got {spec!r})",
            setting="handler",
        )
    path = Path(match["path"]).expanduser().resolve()
    if path.suffix not in HANDLER_SUFFIXES:
        raise StackError(
            f"must name a {', '.join(HANDLER_SUFFIXES)} file, the languages the local "
            f"stack runs (got {spec!r})",
            setting="handler",
        )
    if not path.is_file():
        raise StackError(
            f"must name an existing file (got {spec!r}; {path} does not exist)",
            setting="handler",
        )
    if not path.stem.isidentifier():
        raise StackError(
            f"must name a file whose name is a valid module name, e.g. fulfillment.py "
            f"(got {spec!r})",
            setting="handler",
        )
    return path, match["function"]


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "::1", "localhost")
