"""The functions' botocore clients: botocore's own models, loaded leanly, and working.

The lean loader skips listing every model folder and parses into plain dicts; these
tests prove it reads exactly what botocore's own loader reads, fails as botocore fails,
honours AWS_DATA_PATH, and leaves the cycle collector as it found it. Calls through the
clients against real servers are covered by every other test in this folder.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import botocore.handlers
import botocore.loaders
import botocore.session
import hypothesis
import pytest
from botocore.exceptions import BotoCoreError, ReadTimeoutError, UnknownServiceError
from botocore.hooks import EVENT_ALIASES, EventAliaser, HierarchicalEmitter
from botocore.regions import EndpointResolver
from hypothesis import strategies as st
from lexstream_runtime import aws, contract

from functions import layout
from tests.functions.fresh_init import after_init

MODEL_TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1")
SHARED_DATA = ("endpoints", "partitions", "_retry", "sdk-default-configuration")


def _same(left: object, right: object) -> bool:
    """Equal values with the same key order (dicts keep order, as OrderedDicts do)."""
    return json.dumps(left) == json.dumps(right)


@pytest.mark.parametrize("service", aws.SERVICES)
@pytest.mark.parametrize("type_name", MODEL_TYPES)
def test_lean_loader_reads_the_same_service_models_as_botocore(service, type_name):
    lean = aws._lean_session().get_component("data_loader")
    reference = botocore.loaders.Loader()
    assert _same(
        lean.load_service_model(service, type_name),
        reference.load_service_model(service, type_name),
    )


@pytest.mark.parametrize("name", [name for name in SHARED_DATA if name != "endpoints"])
def test_lean_loader_reads_the_same_shared_data_as_botocore(name):
    lean = aws._lean_session().get_component("data_loader")
    data = lean.load_data(name)
    assert data, f"{name} loaded empty"
    assert _same(data, botocore.loaders.Loader().load_data(name))


def _narrowed(endpoints: dict) -> dict:
    """botocore's endpoints data with every partition's services narrowed to the functions'."""
    narrowed = copy.deepcopy(endpoints)
    for partition in narrowed["partitions"]:
        entries = partition["services"]
        partition["services"] = {name: entries[name] for name in entries if name in aws.SERVICES}
    return narrowed


def test_lean_loader_reads_botocores_endpoints_with_only_the_functions_services():
    lean = aws._lean_session().get_component("data_loader").load_data("endpoints")
    full = botocore.loaders.Loader().load_data("endpoints")
    assert len(lean["partitions"]) == len(full["partitions"]) > 1
    assert any(partition["services"] for partition in lean["partitions"])
    assert _same(lean, _narrowed(full))


@pytest.mark.parametrize("indent", [None, 4, "\t"], ids=["minified", "by 4", "by tabs"])
def test_endpoints_laid_out_otherwise_are_narrowed_all_the_same(indent):
    full = botocore.loaders.Loader().load_data("endpoints")
    text = json.dumps(full, indent=indent)
    assert _same(aws.narrowed_endpoints(text, aws.SERVICES), _narrowed(full))


@pytest.mark.parametrize(
    "services",
    [{"zzz": {"endpoints": {"a": {}}}}, {"dynamodb": {}, "zzz": {"endpoints": {}}}, {}],
    ids=["another service only", "an empty entry", "no services"],
)
def test_a_partition_with_other_or_no_services_is_narrowed_as_botocore_lays_it_out(services):
    full = copy.deepcopy(botocore.loaders.Loader().load_data("endpoints"))
    full["partitions"][0]["services"] = services
    shipped_layout = json.dumps(full, indent=2, separators=(",", " : "))
    assert _same(aws.narrowed_endpoints(shipped_layout, aws.SERVICES), _narrowed(full))


def _resolved(resolver: EndpointResolver, *arguments: Any, **variant: bool) -> Any:
    """What `construct_endpoint` gives, or the error it raises (as its class and text)."""
    try:
        return resolver.construct_endpoint(*arguments, **variant)
    except BotoCoreError as error:
        return (type(error).__name__, str(error))


def test_the_functions_services_resolve_as_from_all_of_botocores_endpoints():
    full = EndpointResolver(botocore.loaders.Loader().load_data("endpoints"))
    lean = aws._lean_session()._get_internal_component("endpoint_resolver")
    resolved = 0
    for partition in full._endpoint_data["partitions"]:
        for region in [*partition["regions"], "xx-nowhere-1"]:
            for service in aws.SERVICES:
                for fips in (False, True):
                    for dualstack in (False, True):
                        arguments = (service, region, partition["partition"])
                        variant = {"use_fips_endpoint": fips, "use_dualstack_endpoint": dualstack}
                        expected = _resolved(full, *arguments, **variant)
                        assert _resolved(lean, *arguments, **variant) == expected, arguments
                        resolved += isinstance(expected, dict)
        region = next(iter(partition["regions"]))
        assert lean.get_partition_for_region(region) == partition["partition"]
    assert resolved > 100


def _builtin_handlers(session: botocore.session.Session) -> dict[str, list[Any]]:
    """Every handler the session has for each event botocore registers handlers for,
    looked up under the name botocore's own aliaser gives the event."""
    events = session.get_component("event_emitter")
    botocores = EventAliaser(HierarchicalEmitter())
    return {
        name: list(events._emitter._handlers.prefix_search(botocores._alias_event_name(name)))
        for name in sorted({spec[0] for spec in botocore.handlers.BUILTIN_HANDLERS})
    }


def _event_names_near_every_alias() -> list[str]:
    """Event names that hold each of botocore's old service names, whole, in part, inside
    a longer part, at either end; each new name; and every builtin handler's event."""
    names = {spec[0] for spec in botocore.handlers.BUILTIN_HANDLERS}
    for old, new in EVENT_ALIASES.items():
        for part in {old, new, *old.split("."), f"x{old}", f"{old}x", old.replace(".", "-")}:
            names |= {
                part,
                f"before-call.{part}",
                f"before-call.{part}.Operation",
                f"{part}.after-call",
                f"needs-retry.{part}.{part}",
            }
    return sorted(names)


def test_the_lean_aliaser_names_every_event_as_botocores_own_does():
    names = _event_names_near_every_alias()
    lean = aws._Aliaser(HierarchicalEmitter())
    botocores = EventAliaser(HierarchicalEmitter())
    expected = {name: botocores._alias_event_name(name) for name in names}
    assert {name: lean._alias_event_name(name) for name in names} == expected
    # and again, from its cache
    assert {name: lean._alias_event_name(name) for name in names} == expected
    assert len(names) > 1000
    assert sum(new != name for name, new in expected.items()) > 300


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    parts=st.lists(
        st.sampled_from(sorted({p for old in EVENT_ALIASES for p in old.split(".")}))
        | st.text(alphabet="abcdefghijklmnopqrstuvwxyz-.*", max_size=12),
        min_size=1,
        max_size=6,
    )
)
def test_any_event_name_is_aliased_as_botocore_aliases_it(parts):
    name = ".".join(parts)
    lean = aws._Aliaser(HierarchicalEmitter())
    assert lean._alias_event_name(name) == EventAliaser(HierarchicalEmitter())._alias_event_name(
        name
    )


def test_the_lean_session_and_its_clients_alias_events_with_botocores_aliases():
    session = aws._lean_session()
    client = session.create_client("dynamodb", region_name="us-east-1")
    for events in (session.get_component("event_emitter"), client.meta.events):
        assert type(events) is aws._Aliaser
        assert events._event_aliases == EVENT_ALIASES
        assert events._alias_event_name("before-call.runtime.sagemaker.X") == (
            "before-call.sagemaker-runtime.X"
        )


def test_the_lean_session_has_every_handler_botocores_own_session_has():
    lean = _builtin_handlers(aws._lean_session())
    assert lean == _builtin_handlers(botocore.session.Session())
    assert sum(map(len, lean.values())) > 100


def test_the_lean_session_refuses_a_handler_without_keyword_arguments_as_botocore_does():
    def handler(params):
        return None

    for session in (aws._lean_session(), botocore.session.Session()):
        with pytest.raises(ValueError, match=r"must accept keyword arguments \(\*\*kwargs\)"):
            session.register("before-call.dynamodb", handler)


def test_a_service_the_functions_do_not_use_fails_as_botocore_fails_naming_the_known_ones():
    session = aws._lean_session()
    with pytest.raises(UnknownServiceError) as raised:
        session.create_client("s3", region_name="us-east-1")
    for service in aws.SERVICES:
        assert service in str(raised.value)


def test_models_on_aws_data_path_take_precedence_as_in_botocore(tmp_path, monkeypatch):
    reference = botocore.loaders.Loader()
    model = reference.load_service_model("apigatewaymanagementapi", "service-2")
    model["metadata"]["apiVersion"] = "2099-01-01"
    model["documentation"] = "<p>lexstream AWS_DATA_PATH override</p>"
    folder = tmp_path / "apigatewaymanagementapi" / "2099-01-01"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", os.pathsep.join(["/nonexistent", str(tmp_path)]))

    client = aws._lean_session().create_client(
        "apigatewaymanagementapi",
        region_name="us-east-1",
        endpoint_url="https://abc123.execute-api.us-east-1.amazonaws.com/Prod",
    )

    assert client.meta.service_model.api_version == "2099-01-01"
    assert client.meta.service_model.documentation == model["documentation"]


@pytest.mark.parametrize("collecting", [True, False])
def test_creating_a_client_leaves_the_cycle_collector_as_it_was(collecting):
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        client = aws.dynamodb_client()
        assert client.meta.service_model.service_name == "dynamodb"
        assert gc.isenabled() is collecting
        with pytest.raises(UnknownServiceError):
            aws._client("s3")
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()


def test_lean_clients_keep_the_timeouts_and_retries_the_functions_rely_on():
    dynamodb = aws.dynamodb_client()
    assert (dynamodb.meta.config.connect_timeout, dynamodb.meta.config.read_timeout) == (1, 2)
    # botocore's `max_attempts` counts retries only; two attempts in all is what keeps a
    # stuck table inside the route functions' 10 s timeout.
    assert dynamodb.meta.config.retries["total_max_attempts"] == 2
    bedrock = aws.bedrock_runtime_client(read_timeout_s=25.0)
    assert bedrock.meta.config.read_timeout == 25.0
    assert bedrock.meta.config.retries["total_max_attempts"] == 2
    post = aws.management_client("https://abc123.execute-api.us-east-1.amazonaws.com/Prod")
    assert post.meta.config.retries["total_max_attempts"] == 1
    assert post.meta.endpoint_url == "https://abc123.execute-api.us-east-1.amazonaws.com/Prod"


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback HTTP server that reads every request and never answers:
    (port, request lines received)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    requests: list[bytes] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def read(connection: socket.socket) -> None:
        connection.settimeout(0.1)
        while not stop.is_set():
            try:
                data = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            requests.extend(line for line in data.split(b"\r\n") if line.startswith(b"POST "))

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            threading.Thread(target=read, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


def test_a_stuck_table_is_asked_twice_then_the_route_call_fails(silent_server, monkeypatch):
    """Two attempts of a 2 s read each keep a stuck DynamoDB inside the 10 s route timeout."""
    port, requests = silent_server
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
    client = aws.dynamodb_client()
    with pytest.raises(ReadTimeoutError):
        client.get_item(TableName="connections", Key={"sessionId": {"S": "s"}})
    assert len(requests) == 2


@pytest.mark.parametrize("name", layout.FUNCTION_NAMES)
def test_a_function_loads_without_boto3(name, tmp_path):
    """The cold start saves boto3's own import: only botocore is loaded."""
    printed = after_init(
        name,
        tmp_path,
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))[:1],"
        " 'boto3' in sys.modules)",
    )
    assert printed.split() == ["['botocore']", "False"]


def test_the_route_functions_management_client_is_made_on_first_use(monkeypatch):
    # connect and default call the management API only on rare paths (a session held by
    # another connection, a connection over its budget): their cold init must not pay it.
    from lexstream_runtime import websocket

    monkeypatch.setenv(contract.ENV_CALLBACK_URL, "http://127.0.0.1:9/Prod")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = websocket.own_api_management_client()
    assert client._client is None
    assert client.meta.endpoint_url == "http://127.0.0.1:9/Prod"
    assert client.meta.service_model.service_name == "apigatewaymanagementapi"
    assert client.meta.config.read_timeout == 2  # the route functions' short timeouts
    made = client._client
    assert made is not None and client.meta is made.meta


@pytest.mark.parametrize("value", ["not a url", "ftp://127.0.0.1/Prod", "https:///Prod"])
def test_a_callback_url_that_is_no_http_url_still_fails_at_cold_init(monkeypatch, value):
    from lexstream_runtime import websocket
    from lexstream_runtime.environment import ConfigurationError

    monkeypatch.setenv(contract.ENV_CALLBACK_URL, value)
    with pytest.raises(ConfigurationError, match=r"LEXSTREAM_CALLBACK_URL=.*https callback URL"):
        websocket.own_api_management_client()
