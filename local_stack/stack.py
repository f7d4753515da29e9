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

This module wires the parts together; each concern has its own module: the settings
and their checks (`settings`), the functions (`stack_functions`, run by
`lambda_runtime`), the page's routes (`page_routes`) and the turn reports (`turns`).
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.exceptions
from aiohttp import web
from lexstream_runtime import contract

from . import stack_functions
from .activity import Activity
from .bedrock import LocalBedrock
from .dynamodb import EmbeddedDynamoDB, dynamodb_client, ensure_stack_tables
from .gateway import LocalGateway
from .identity import LocalCredentials
from .lambda_runtime import LambdaFunction
from .lex_runtime import LexRuntime
from .page_routes import page_routes, web_ui_config
from .settings import (  # the settings' names, importable from here as before
    HANDLER_SUFFIXES,
    SESSION_ID_KINDS,
    StackError,
    StackSettings,
    handler_parts,
    known_regions,
    project_defaults,
)
from .stopping import stop_each
from .turns import TurnReports
from .web_ui import WebUiSite, checked_build, site_for_stack

__all__ = [
    "HANDLER_SUFFIXES",
    "SESSION_ID_KINDS",
    "LocalStack",
    "StackError",
    "StackSettings",
    "handler_parts",
    "known_regions",
    "project_defaults",
]

log = logging.getLogger("lexstream.local")

# Credentials for the loopback servers only; nothing local checks them. Letters only:
# DynamoDB Local refuses access keys with other characters.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "lexstreamlocal",
    "AWS_SECRET_ACCESS_KEY": "lexstreamlocal",
    "AWS_SESSION_TOKEN": "lexstreamlocal",
}


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
        self.web_ui: WebUiSite | None = None
        self._process_environment: patched_environ | None = None
        self._had_static_credentials = "AWS_ACCESS_KEY_ID" in os.environ
        self.activity = Activity()
        self.turns = TurnReports(self.activity)

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
        """Close sockets (running $disconnect), then stop every server and function.

        Each part is stopped even when another fails to, and none is waited on without
        a limit.
        """
        # The functions stay reachable until the gateway has run its last $disconnect.
        gateway, lex, functions = self.gateway, self.lex, self.functions
        bedrock, dynamodb = self.bedrock, self.dynamodb
        parts = [
            ("gateway", gateway.stop if gateway else None),
            ("Lex runtime", lex.close if lex else None),
            *((f"{name} function", function.close) for name, function in functions.items()),
            ("local model", bedrock.stop if bedrock else None),
            ("embedded DynamoDB", dynamodb.stop if dynamodb else None),
            ("process environment", self._restore_process_environment),
        ]
        stop_each((name, stop) for name, stop in parts if stop is not None)
        self.gateway, self.lex, self.functions = None, None, {}
        self.bedrock, self.dynamodb = None, None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what clients need -----------------------------------------------------------

    @property
    def page_url(self) -> str:
        """The chat page, e.g. http://127.0.0.1:8080/, or the Web UI's index.html."""
        page = "index.html" if self.settings.web_ui is not None else ""
        return f"{self._gateway().base_url}/{page}"

    @property
    def other_page_urls(self) -> list[str]:
        """The Web UI's iframe embedding, parent.html, when the build has one."""
        if (
            self.settings.web_ui is None
            or not (checked_build(self.settings.web_ui) / "parent.html").is_file()
        ):
            return []
        return [f"{self._gateway().base_url}/parent.html"]

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
        assert self.lex is not None
        return web_ui_config(self.settings, self._gateway(), self.lex)

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

    def _create_functions(self) -> None:
        self.functions = stack_functions.create_functions(
            self.settings,
            self._service_environment(),
            stack_functions.function_settings(self.settings, self._gateway().callback_url),
            self._function_credentials(),
            self.turns.function_output,
        )
        stack_functions.initialize(self.functions, self.settings)

    def _start_gateway(self) -> None:
        settings = self.settings
        self.lex = LexRuntime(
            lambda event: self.turns.fulfill(self._invoker("fulfillment"), self._gateway(), event)
        )
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
            extra_routes=[
                *self._web_ui_routes(),
                *page_routes(self.web_ui_config, self._gateway),
                *self.lex.routes(),
            ],
            # The page, Lex and the identity endpoint answer only the stack's own page:
            # any site the developer visits could otherwise drive them (with --bedrock,
            # on the developer's AWS bill).
            own_origin_only=True,
            allowed_origins=settings.allow_origins,
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
        port = self.gateway.port
        self.lex.endpoint_aliases = {
            f"ws://{host}:{port}/{settings.stage}": self.gateway.callback_url
            for host in ("127.0.0.1", "localhost")
        }
        if self.web_ui is not None:
            for line in self.web_ui.startup_lines():
                log.info("%s", line)
        for origin in settings.allow_origins:
            log.info("allowed origin: %s", origin)

    def _web_ui_routes(self) -> list[web.RouteDef]:
        """A user's own Web UI build and the AWS endpoints its page calls."""
        if self.settings.web_ui is None:
            return []
        self.web_ui = site_for_stack(self)
        return self.web_ui.routes()

    def _function_credentials(self) -> dict[str, str]:
        """The credential triple the functions run with, as Lambda hands a function its
        role's: the stack's fake ones, or what this process's botocore resolves."""
        local = self._local_credentials
        if local:
            return local
        resolved = boto3.Session().get_credentials()
        frozen = resolved.get_frozen_credentials() if resolved is not None else None
        if frozen is None:
            return {}
        triple = {
            "AWS_ACCESS_KEY_ID": frozen.access_key,
            "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        }
        if frozen.token:
            triple["AWS_SESSION_TOKEN"] = frozen.token
        return triple

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


class patched_environ:
    """Set environment variables on enter; put back what was there on exit."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, old in self.saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
