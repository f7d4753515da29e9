"""The whole streaming path on one machine, wired the way the component deploys it.

    with LocalStack(StackSettings(port=0)) as stack:
        print(stack.page_url)

starts, all on 127.0.0.1:
- DynamoDB (embedded moto, or the endpoint you name) with the connection and quota tables;
- the account-free model (`LocalBedrock`), unless real Bedrock is asked for;
- the route functions from `functions/`, run as Lambda runs them, with the environment
  variables the component sets;
- the WebSocket gateway with its management API, a Lex V2 RecognizeText endpoint that
  calls the fulfillment function, an identity endpoint and the chat page, on one port.

Settings left as None take the defaults that Pulumi.yaml declares for a deployment, so
the local stack runs what `pulumi up` would deploy without any stack config.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import botocore.session
import yaml
from aiohttp import web
from lexstream_runtime import contract
from lexstream_runtime.logs import identity_tag

from components.args import ExampleFulfillmentArgs, InvalidArgumentError, StreamingBackendArgs
from functions import declarations, layout

from .activity import Activity, FunctionPrinted, TurnEnded
from .bedrock import LocalBedrock
from .dynamodb import EmbeddedDynamoDB, dynamodb_client, ensure_stack_tables
from .gateway import LocalGateway
from .identity import LocalCredentials
from .lambda_runtime import LambdaFunction, patched_environ
from .lex_runtime import LexRuntime

log = logging.getLogger("lexstream.local")

PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"
PAGE_DIR = Path(__file__).resolve().parent / "page"
# The Lex Web UI sends its heartbeat every 9 minutes, inside API Gateway's 10-minute
# idle timeout.
PING_INTERVAL_SECONDS = 9 * 60
# Credentials for the loopback servers only; nothing local checks them. Letters only:
# DynamoDB Local refuses access keys with other characters.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "lexstreamlocal",
    "AWS_SECRET_ACCESS_KEY": "lexstreamlocal",
    "AWS_SESSION_TOKEN": "lexstreamlocal",
}
_HANDLER_PATTERN = re.compile(r"(?P<path>.+\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)")


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
        handler: `path/to/file.py:function`, a fulfillment to run instead of the
            Bedrock example; `lexstream_runtime` is importable, as from the layer.
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
    """`path/to/file.py:function` → (absolute file path, function name), checked."""
    match = _HANDLER_PATTERN.fullmatch(spec)
    if match is None:
        raise StackError(
            f"must look like path/to/file.py:function, e.g. my_bot/fulfillment.py:handler "
            f"(got {spec!r})",
            setting="handler",
        )
    path = Path(match["path"]).expanduser().resolve()
    if not path.is_file():
        raise StackError(
            f"must name an existing file (got {spec!r}; {path} does not exist)",
            setting="handler",
        )
    if not path.stem.isidentifier():
        raise StackError(
            f"must name a file that is a valid Python module name (got {spec!r})",
            setting="handler",
        )
    return path, match["function"]


class LocalStack:
    """Everything the streaming path needs, started and stopped together.

    What happens (connects, turns, posts, disconnects, the functions' log lines) is
    reported on `self.activity`; `scripts/local` prints it.

    Args:
        settings: what to run; None fields take Pulumi.yaml's defaults.
    """

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = (settings or StackSettings()).resolved()
        self.dynamodb: EmbeddedDynamoDB | None = None
        self.dynamodb_endpoint: str | None = None
        self.bedrock: LocalBedrock | None = None
        self.functions: dict[str, LambdaFunction] = {}
        self.lex: LexRuntime | None = None
        self.gateway: LocalGateway | None = None
        self._process_environment: patched_environ | None = None
        self._had_static_credentials = "AWS_ACCESS_KEY_ID" in os.environ
        self.activity = Activity()
        # The fulfillment helper's last `stream_closed` line per session id.
        self._stream_reports: dict[str, dict[str, Any]] = {}
        self._stream_reports_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start every part; on failure, stop what already started and re-raise."""
        try:
            self._check_credentials()
            self._start_dynamodb()
            self._start_model()
            self._set_process_environment()
            self._create_tables()
            # The gateway first: its port is the callback URL the fulfillment is pinned
            # to, as the component pins the deployed example to the API's own URL.
            self._start_gateway()
            self._create_functions()
        except BaseException:
            self.stop()
            raise
        log.info("chat page: %s", self.page_url)
        return self

    def stop(self) -> None:
        """Close sockets (running $disconnect), then stop every server."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.lex is not None:
            self.lex.close()
            self.lex = None
        for function in self.functions.values():
            function.close()
        self.functions = {}
        if self.bedrock is not None:
            self.bedrock.stop()
            self.bedrock = None
        if self.dynamodb is not None:
            self.dynamodb.stop()
            self.dynamodb = None
        self._restore_process_environment()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what clients need -----------------------------------------------------------

    @property
    def page_url(self) -> str:
        """The chat page, e.g. http://127.0.0.1:8080/."""
        return f"{self._gateway().base_url}/"

    @property
    def websocket_url(self) -> str:
        """The socket URL, as the Web UI's `streamingWebSocketEndpoint`."""
        return self._gateway().websocket_url

    @property
    def callback_url(self) -> str:
        """The management API URL, as the `streamingEndpoint` session attribute."""
        return self._gateway().callback_url

    def web_ui_config(self) -> dict[str, Any]:
        """What the chat page needs to know, in the Lex Web UI's terms."""
        gateway = self._gateway()
        assert self.lex is not None
        return {
            # The Web UI's own keys: the page derives `streamingEndpoint` from the socket
            # URL, as the stock client does.
            contract.WEB_UI_WEBSOCKET_ENDPOINT: gateway.websocket_url,
            contract.WEB_UI_TABLE: self.settings.connection_table,
            "sessionIds": self.settings.session_ids,
            "authMode": self.settings.auth_mode,
            "region": self.settings.region,
            "recognizeTextPath": self.lex.path,
            "pingIntervalMs": int(self.settings.ping_interval_s * 1000),
            "reconnectDelayMs": 1000,
        }

    def _gateway(self) -> LocalGateway:
        if self.gateway is None:
            raise RuntimeError("the local stack is not running; call start() first")
        return self.gateway

    # --- the parts -------------------------------------------------------------------

    def _check_credentials(self) -> None:
        if self.settings.all_local:
            return
        if boto3.Session().get_credentials() is None:
            setting = "use_bedrock" if self.settings.use_bedrock else "dynamodb_endpoint"
            raise StackError(
                "needs AWS credentials (environment variables, a profile or SSO), and "
                "none were found",
                setting=setting,
            )

    @property
    def _local_credentials(self) -> dict[str, str]:
        # Static credentials already in the environment are kept: boto3's default session
        # keeps the first credentials it resolves for the whole process, and DynamoDB
        # Local keeps tables apart per access key. Otherwise (nothing set, or a profile
        # whose SSO token may have expired) fake ones serve the loopback servers.
        if not self.settings.all_local or self._had_static_credentials:
            return {}
        return dict(FAKE_CREDENTIALS)

    def _start_dynamodb(self) -> None:
        endpoint = self.settings.dynamodb_endpoint
        if endpoint is None:
            self.dynamodb = EmbeddedDynamoDB().start()
            endpoint = self.dynamodb.endpoint_url
        self.dynamodb_endpoint = endpoint

    def _create_tables(self) -> None:
        client = dynamodb_client(self.dynamodb_endpoint, self.settings.region)
        given = self.settings.dynamodb_endpoint
        try:
            ensure_stack_tables(client, self.settings.connection_table, self.settings.quota_table)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            if given is None:
                raise
            # One line: botocore's messages for an unreachable or non-DynamoDB endpoint
            # can carry a whole HTML page.
            reason = " ".join(str(error).split())[:200]
            raise StackError(
                f"must be a DynamoDB endpoint that answers (got {given!r}: {reason}); start "
                "DynamoDB Local there, or leave the flag out for the embedded one",
                setting="dynamodb_endpoint",
            ) from None

    def _start_model(self) -> None:
        if self.settings.use_bedrock:
            log.info("model: Bedrock %s in %s", self.settings.model_id, self.settings.region)
            return
        self.bedrock = LocalBedrock(
            tokens_per_second=self.settings.tokens_per_second,
            first_token_delay_s=self.settings.first_token_delay_s,
        ).start()
        log.info("model: built-in, %.0f tokens/s", self.settings.tokens_per_second)

    def _service_environment(self) -> dict[str, str]:
        # botocore's standard per-service endpoint variables point the functions' SDK
        # clients at the loopback servers, with no change to the function code.
        environment = {
            "AWS_REGION": self.settings.region,
            "AWS_DEFAULT_REGION": self.settings.region,
            "AWS_ENDPOINT_URL_DYNAMODB": str(self.dynamodb_endpoint),
            # The gateway is plain http on loopback, where no deployed function may post.
            contract.ENV_LOCAL_LOOPBACK_CALLBACKS: "1",
        }
        if self.bedrock is not None:
            environment["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = self.bedrock.endpoint_url
        environment.update(self._local_credentials)
        return environment

    def _set_process_environment(self) -> None:
        # Functions create some clients lazily, during an invocation, from the process
        # environment (on Lambda that is the function's own); so the stack's endpoints
        # must be there too while it runs. One stack per process at a time.
        self._process_environment = patched_environ(self._service_environment())
        self._process_environment.__enter__()

    def _restore_process_environment(self) -> None:
        if self._process_environment is not None:
            self._process_environment.__exit__()
            self._process_environment = None

    def _function_settings(self) -> dict[str, str]:
        """The values the functions' environments are built from, as the component fills
        them (`declarations.SETTINGS`), for this stack's tables, gateway and model."""
        settings = self.settings
        return {
            "connection_table": settings.connection_table,
            "quota_table": settings.quota_table,
            "quota_limit": str(settings.quota_limit),
            "quota_period": str(settings.quota_period),
            "quota_per_identity_limit": str(settings.quota_per_identity_limit),
            "quota_per_source_limit": str(settings.quota_per_source_limit),
            "auth_mode": str(settings.auth_mode),
            "callback_url": self._gateway().callback_url,
            "model_id": str(settings.model_id),
            "system_prompt": str(settings.system_prompt),
            "max_tokens": str(settings.max_tokens),
            "metrics_namespace": "Lexstream/local",
            "callback_alias": "",
        }

    def _create_functions(self) -> None:
        settings = self.settings
        service = self._service_environment()
        values = self._function_settings()
        # Each function as the component deploys it: its declaration's handler, timeout
        # and environment.
        for declaration in declarations.ROUTE_FUNCTIONS.values():
            self.functions[declaration.name] = LambdaFunction.lexstream(
                declaration.name,
                {**service, **declaration.environment_from(values)},
                timeout_s=declaration.timeout_seconds,
                memory_mb=declaration.memory_mb,
                region=settings.region,
                output=self._function_output(declaration.name),
            )
        example = declarations.BEDROCK_FULFILLMENT
        fulfillment_environment = {**service, **example.environment_from(values)}
        if settings.handler is None:
            fulfillment = LambdaFunction.lexstream(
                example.name,
                fulfillment_environment,
                timeout_s=example.timeout_seconds,
                memory_mb=example.memory_mb,
                region=settings.region,
                output=self._function_output("fulfillment"),
            )
        else:
            path, function = handler_parts(settings.handler)
            fulfillment = LambdaFunction(
                path.stem,
                f"{path.stem}.{function}",
                {path.name: path, **layout.runtime_files()},
                fulfillment_environment,
                timeout_s=example.timeout_seconds,
                memory_mb=example.memory_mb,
                region=settings.region,
                output=self._function_output("fulfillment"),
            )
            log.info("fulfillment: %s", settings.handler)
        self.functions["fulfillment"] = fulfillment
        # Cold inits happen now, so a broken handler fails the start, not the first turn.
        for name, function in self.functions.items():
            try:
                function.initialize()
            except Exception as error:
                if name != "fulfillment" or settings.handler is None:
                    raise
                raise StackError(
                    f"must load as a fulfillment (got {settings.handler!r}, whose cold init "
                    f"raised {type(error).__name__}: {' '.join(str(error).split())})",
                    setting="handler",
                ) from None

    def _start_gateway(self) -> None:
        settings = self.settings
        self.lex = LexRuntime(self._fulfill)
        routes = {
            contract.ROUTE_CONNECT: self._invoker("connect"),
            contract.ROUTE_DISCONNECT: self._invoker("disconnect"),
            contract.ROUTE_DEFAULT: self._invoker("default"),
        }
        self.gateway = LocalGateway(
            routes,
            stage=str(settings.stage),
            auth_mode=str(settings.auth_mode),
            callback_latency_s=settings.callback_latency_s,
            region=settings.region,
            management_signers=self._function_signers(),
            port=settings.port,
            throttle_rate=settings.throttle_rate,
            throttle_burst=settings.throttle_burst,
            idle_timeout_s=settings.idle_timeout_s,
            max_connection_s=settings.max_connection_s,
            extra_routes=[*self._page_routes(), *self.lex.routes()],
            # The page, Lex and the identity endpoint answer only the stack's own page:
            # any site the developer visits could otherwise drive them (with --bedrock,
            # on the developer's AWS bill).
            own_origin_only=True,
            activity=self.activity,
        )
        try:
            self.gateway.start()
        except OSError as error:
            self.gateway = None
            # The OS's own words for the errno: aiohttp's message repeats the address.
            reason = os.strerror(error.errno) if error.errno else "cannot listen"
            if error.errno == errno.EADDRINUSE:
                reason = "the port is taken"
            raise StackError(
                f"must be a port free on 127.0.0.1 (got {settings.port}: {reason}); choose "
                "another port, or 0 for any free one",
                setting="port",
            ) from None
        # As the Web UI does when streaming is allowed: every turn names the callback URL
        # and the table, so a client that omits them still streams.
        self.lex.streaming_attributes = {
            contract.SESSION_ATTR_ENDPOINT: self.gateway.callback_url,
            contract.SESSION_ATTR_TABLE: settings.connection_table,
        }

    def _function_signers(self) -> Callable[[str], LocalCredentials | None]:
        """The credentials the functions sign their posts with, for the gateway to verify
        them as API Gateway does: whatever this process's botocore resolves (the stack's
        fake ones, or your own), asked afresh so refreshed credentials keep working."""
        session = boto3.Session()

        def lookup(access_key: str) -> LocalCredentials | None:
            resolved = session.get_credentials()
            frozen = resolved.get_frozen_credentials() if resolved is not None else None
            if frozen is None or frozen.access_key != access_key:
                return None
            return LocalCredentials(
                "", frozen.access_key, frozen.secret_key, frozen.token or "", math.inf
            )

        return lookup

    def _invoker(self, name: str) -> Callable[[Any], Any]:
        """Invoke function `name`, looked up per call: the gateway listens before the
        functions exist, so a request in that moment fails cleanly instead of hanging."""

        def invoke(event: Any) -> Any:
            function = self.functions.get(name)
            if function is None:
                raise StackError(f"the {name} function is not ready: the stack is starting")
            return function.invoke(event)

        return invoke

    def _fulfill(self, event: Any) -> Any:
        """Invoke the fulfillment for one Lex turn and report the turn: from the helper's
        `stream_closed` line when it printed one, else from what the gateway delivered to
        the session's sockets meanwhile."""
        session_id = str(event.get("sessionId", "")) if isinstance(event, dict) else ""
        invoke = self._invoker("fulfillment")
        started = time.monotonic()
        response: Any = None
        failed: str | None = None
        with self._gateway().tally_posts(session_id) as tally:
            try:
                response = invoke(event)
            except Exception as error:
                failed = f"{type(error).__name__}: {error}"
                raise
            finally:
                with self._stream_reports_lock:
                    # The helper logs a Cognito identity id as its tag.
                    report = self._stream_reports.pop(session_id, None)
                    tagged = self._stream_reports.pop(identity_tag(session_id), None)
                    report = report or tagged
                self.activity.emit(
                    _turn_ended(session_id, started, response, report, tally, failed)
                )
        return response

    def _function_output(self, name: str) -> Callable[[str], None]:
        """Where function `name`'s printed lines go: the activity channel, and the
        helper's `stream_closed` line also to the turn it reports on."""

        def printed(line: str) -> None:
            if name == "fulfillment" and '"stream_closed"' in line:
                try:
                    fields = json.loads(line)
                except ValueError:
                    fields = None
                if isinstance(fields, dict) and fields.get("event") == "stream_closed":
                    with self._stream_reports_lock:
                        self._stream_reports[str(fields.get("sessionId"))] = fields
            self.activity.emit(FunctionPrinted(name, line))

        return printed

    def _page_routes(self) -> list[web.RouteDef]:
        async def index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(PAGE_DIR / "index.html")

        async def config(request: web.Request) -> web.Response:
            return web.json_response(self.web_ui_config())

        async def identity(request: web.Request) -> web.Response:
            # The identity pool's GetId + GetCredentialsForIdentity, in one call.
            try:
                body = await request.json()
            except ValueError:
                body = {}
            identity_id = body.get("identityId") if isinstance(body, dict) else None
            try:
                credentials = self._gateway().identity_pool.issue(identity_id)
            except ValueError as error:
                return web.json_response({"message": str(error)}, status=400)
            return web.json_response(credentials.as_json())

        return [
            web.get("/", index),
            web.get("/config.json", config),
            web.post("/identity", identity),
            web.static("/static", PAGE_DIR),
        ]


def _turn_ended(
    session_id: str,
    started: float,
    response: Any,
    report: Mapping[str, Any] | None,
    tally: Any,
    failed: str | None,
) -> TurnEnded:
    messages = response.get("messages") if isinstance(response, dict) else None
    characters = sum(len(str(m.get("content", ""))) for m in messages or [] if isinstance(m, dict))
    seconds = time.monotonic() - started
    # Time to the first text on screen: from the turn's start to the gateway's first post.
    first_text_ms = None if tally.first_post_at is None else (tally.first_post_at - started) * 1000
    if report is None:
        # A fulfillment that does not use the helper: what the gateway saw.
        return TurnEnded(
            session_id,
            seconds,
            characters,
            tally.posts,
            tally.bytes_posted,
            None,
            first_text_ms,
            None,
            "streamed" if tally.posts else "not streamed",
            failed,
        )
    ended = report.get("outcome")
    if not ended:
        stop = report.get("stopReason")
        ended = (stop or "complete") if report.get("streaming") else f"off_{stop or 'unknown'}"
    return TurnEnded(
        session_id,
        seconds,
        characters,
        int(report.get("messagesPosted") or 0),
        int(report.get("bytesPosted") or 0),
        int(report.get("retries") or 0),
        first_text_ms,
        report.get("firstPostDelayMs"),
        str(ended),
        failed,
    )


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "::1", "localhost")
