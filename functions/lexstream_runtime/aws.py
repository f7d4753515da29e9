"""botocore clients with timeouts and retries sized for API Gateway's and Lex's time limits.

Endpoints are never set here: botocore reads the standard `AWS_ENDPOINT_URL_<SERVICE>`
variables, which is how the local stack points these clients at loopback servers.

Clients come from one process-wide botocore session with a lean model loader, because a
client is most of a cold start: `boto3.client` costs more than `import boto3` itself.
- botocore checks a service name by listing every model folder it ships (~400 of them,
  twice per first client); these functions use three services, so only those are known.
- botocore parses its JSON models into OrderedDicts, which is twice as slow as plain
  dicts; dicts keep insertion order and botocore builds its own ordered shapes from them.
- botocore parses all of the 1.2 MB endpoints file, ~400 services in every partition;
  only these three services' entries are read (`narrowed_endpoints`), which is all that
  resolving their endpoints ever looks at.
- a client's models become tens of thousands of containers, and CPython's cycle
  collector would rescan the whole heap (all of botocore's modules) many times
  meanwhile; it is paused while a client is built and resumes after, so nothing is left
  uncollected, only collected once. (The functions pause it for their whole cold init
  instead: `cold_init`.)
- botocore checks that each of the ~130 handlers a session registers as it is made
  accepts **kwargs, by inspecting its signature; botocore's own handlers are taken as
  they are (`_Emitter`), any other is checked.
- botocore maps each event name it meets to its new name by trying ~65 old service
  names one by one, splitting the name again for each; a name with none of them in it
  (all of the builtin handlers' but a few) is known as such in one look (`_Aliaser`).
- boto3 itself is not imported: its resource layer is unused here.
The clients are botocore's own, with the same models, endpoints, credentials and retries.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import threading
from collections import OrderedDict
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.hooks import EventAliaser, HierarchicalEmitter
from botocore.loaders import JSONFileLoader, Loader

# The only services the functions and the helper call.
SERVICES = ("apigatewaymanagementapi", "bedrock-runtime", "dynamodb")

# What a failed AWS call raises: a modelled error, or no answer at all (timeout, refused).
AWS_ERRORS = (ClientError, BotoCoreError)

# The route functions run with a 10 s timeout (API Gateway itself waits 29 s): a stuck
# DynamoDB call must fail well inside it, two attempts of at most 1 s + 2 s each, so the
# client gets a clean 5xx instead of a timed-out function.
_ROUTE_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}
)
# Posts are retried by the streaming helper itself (bounded, with its own counters), so
# botocore must not add hidden retries on top; a post normally takes milliseconds.
_POST_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})

# The callback URL comes from the browser (a session attribute), so a client could name
# a new one every turn: keep only the most recently used few, or a warm function would
# grow by one boto3 client per URL until it runs out of memory. A deployment has one.
MAX_MANAGEMENT_CLIENTS = 8
_management_clients: OrderedDict[str, Any] = OrderedDict()
# Reentrant: the shared client is created under the lock by the function that also
# creates every other client under it (botocore sessions are not thread-safe).
_clients_lock = threading.RLock()
_shared_dynamodb: list[Any] = []
_session: list[botocore.session.Session] = []


class _PlainJSONFileLoader(JSONFileLoader):
    """botocore's model file loader, parsing into plain dicts (see the module docstring);
    `endpoints` is read for `SERVICES` alone (see `narrowed_endpoints`)."""

    def load_file(self, file_path: str) -> Any:
        # The same files in the same order as botocore: `<path>.json`, then `<path>.json.gz`.
        for extension, open_file in ((".json", open), (".json.gz", gzip.open)):
            try:
                with open_file(file_path + extension, "rb") as model:
                    text = model.read().decode("utf-8")
            except FileNotFoundError:
                continue
            if os.path.basename(file_path) == "endpoints":
                return narrowed_endpoints(text, SERVICES)
            return json.loads(text)
        return None


class _NotAsShipped(ValueError):
    """The endpoints file is not laid out as botocore ships it: parse all of it instead."""


_DECODER = json.JSONDecoder()


def narrowed_endpoints(text: str, services: tuple[str, ...]) -> dict[str, Any]:
    """botocore's endpoints data (`endpoints.json`, as text) with every partition's
    `services` narrowed to `services`, in the file's order; the rest is all there.

    Resolving an endpoint reads only the service's own entry and its partition's
    defaults and regions, so a client of one of `services` resolves exactly as it would
    from all of it. The file is 1.2 MB, almost all of it ~400 other services' entries in
    every partition; each of those is stepped over without being parsed. botocore ships
    the file pretty-printed, one key a line, each object's closing brace on a line
    indented as its key: so an entry ends at the first line below its key that is indented
    the same and starts with `}`. Text laid out any other way is parsed whole (same result).
    """

    def partition_value(text: str, key: str, column: int, pos: int) -> tuple[Any, int]:
        if key != "services":
            return _DECODER.raw_decode(text, pos)
        return _services(text, column, pos, services)

    def top_level_value(text: str, key: str, column: int, pos: int) -> tuple[Any, int]:
        if key != "partitions":
            return _DECODER.raw_decode(text, pos)
        if text[pos] != "[":
            raise _NotAsShipped(pos)
        partitions = []
        while True:
            partition, pos = _object(text, pos + 1, partition_value)
            partitions.append(partition)
            pos = _skip_space(text, pos)
            if text[pos] == "]":
                return partitions, pos + 1
            if text[pos] != ",":
                raise _NotAsShipped(pos)

    try:
        return _object(text, 0, top_level_value)[0]
    except (_NotAsShipped, ValueError, IndexError):
        data = json.loads(text)
        for partition in data.get("partitions", []):
            entries = partition.get("services", {})
            partition["services"] = {name: entries[name] for name in entries if name in services}
        return data


def _skip_space(text: str, pos: int) -> int:
    while text[pos] in " \t\r\n":
        pos += 1
    return pos


def _object(text: str, pos: int, value_at: Any) -> tuple[dict[str, Any], int]:
    """The JSON object at `pos` and the position after it; `value_at(text, key, column,
    pos)` reads each value (`column`: where the key's line puts the key)."""
    pos = _skip_space(text, pos)
    if text[pos] != "{":
        raise _NotAsShipped(pos)
    found: dict[str, Any] = {}
    pos = _skip_space(text, pos + 1)
    if text[pos] == "}":
        return found, pos + 1
    while True:
        key, after = _DECODER.raw_decode(text, pos)
        column = pos - text.rfind("\n", 0, pos) - 1
        colon = _skip_space(text, after)
        if not isinstance(key, str) or text[colon] != ":":
            raise _NotAsShipped(pos)
        found[key], pos = value_at(text, key, column, _skip_space(text, colon + 1))
        pos = _skip_space(text, pos)
        if text[pos] == "}":
            return found, pos + 1
        if text[pos] != ",":
            raise _NotAsShipped(pos)
        pos = _skip_space(text, pos + 1)


def _services(
    text: str, column: int, pos: int, services: tuple[str, ...]
) -> tuple[dict[str, Any], int]:
    """The entries of `services` in the services object at `pos`, whose key's line puts
    the key at `column`, and the position after the object."""
    # The services object closes on the first line indented as its key that starts with }.
    end = text.find("\n" + " " * column + "}", pos)
    if text[pos] != "{" or text[pos + 1] != "\n" or end < 0:
        raise _NotAsShipped(pos)
    first = _skip_space(text, pos + 1)
    if first == end + column + 1:
        return {}, end + column + 2
    if first > end:
        raise _NotAsShipped(first)
    # Each service's key starts a line indented deeper than `services`; nothing nested in
    # an entry starts a line at that depth with a quote.
    indent = first - text.rfind("\n", 0, first) - 1
    if indent <= column or text[first] != '"':
        raise _NotAsShipped(first)
    located = []
    for name in services:
        at = text.find(f'\n{" " * indent}"{name}"', pos, end)
        if at >= 0:
            located.append((at, name))
    entries = {}
    for at, name in sorted(located):
        colon = _skip_space(text, at + 1 + indent + len(name) + 2)
        if text[colon] != ":":
            raise _NotAsShipped(colon)
        entries[name], after = _DECODER.raw_decode(text, _skip_space(text, colon + 1))
        if after > end:
            raise _NotAsShipped(after)
    return entries, end + column + 2


class _KnownServicesLoader(Loader):
    """botocore's loader, told which services exist instead of listing every model folder.

    A name outside `services` fails as botocore fails for an unknown service
    (UnknownServiceError, naming the known ones).
    """

    def __init__(self, services: tuple[str, ...], extra_search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=extra_search_paths, file_loader=_PlainJSONFileLoader())
        self._services = sorted(services)

    def list_available_services(self, type_name: str) -> list[str]:
        return list(self._services)


class _Emitter(HierarchicalEmitter):
    """botocore's event emitter, which takes botocore's own handlers without inspecting
    each one's signature again.

    A session registers ~130 builtin handlers as it is made, and botocore checks each one
    accepts **kwargs with `inspect` (a third of making a session); its own handlers all
    do. Any other handler is checked as botocore checks it.
    """

    def _verify_accept_kwargs(self, func: Any) -> Any:
        if str(getattr(func, "__module__", "")).startswith("botocore."):
            return None
        return super()._verify_accept_kwargs(func)


class _Aliaser(EventAliaser):
    """botocore's event aliaser, which knows a name that holds no old service name at a
    glance.

    botocore renames an event such as `before-call.runtime.sagemaker` to its service's
    current name by trying each of its ~65 aliases in turn, splitting the name afresh for
    each: most of making a session, whose ~130 builtin handlers' names are all aliased as
    they are registered, and again on each new client's first calls. It renames only
    when an alias without a dot is one of the name's dot-separated parts or an alias with
    dots occurs in the name; a name with neither is kept as it is. That is decided here
    with one split and one set lookup; any other name is aliased by botocore itself.
    """

    def __init__(self, event_emitter: Any, event_aliases: Any = None) -> None:
        super().__init__(event_emitter, event_aliases)
        self._whole_parts = frozenset(old for old in self._event_aliases if "." not in old)
        self._dotted = tuple(old for old in self._event_aliases if "." in old)

    def _alias_event_name(self, event_name: str) -> str:
        cache = self._alias_name_cache
        if (
            event_name not in cache
            and self._whole_parts.isdisjoint(event_name.split("."))
            and not any(old in event_name for old in self._dotted)
        ):
            cache[event_name] = event_name
        return super()._alias_event_name(event_name)


class _Session(botocore.session.Session):
    """botocore's session, whose events go through `_Aliaser`: it is put in place before
    the builtin handlers are registered, which is the first thing a session does with it.
    """

    def _register_builtin_handlers(self, events: Any) -> None:
        if events is self._events and type(events) is EventAliaser:
            events = self._events = _Aliaser(self._original_handler)
        super()._register_builtin_handlers(events)


def _lean_session() -> botocore.session.Session:
    """A botocore session with the lean loader; honours AWS_DATA_PATH like botocore's own."""
    session = _Session(event_hooks=_Emitter())
    data_path = session.get_config_variable("data_path")
    extra_paths = [
        os.path.expanduser(os.path.expandvars(path))
        for path in (data_path or "").split(os.pathsep)
        if path
    ]
    session.register_component("data_loader", _KnownServicesLoader(SERVICES, extra_paths))
    return session


def _client(service: str, **options: Any) -> Any:
    with _clients_lock:
        collecting = gc.isenabled()
        gc.disable()
        try:
            if not _session:
                _session.append(_lean_session())
            return _session[0].create_client(service, **options)
        finally:
            if collecting:
                gc.enable()


class LazyClient:
    """A client created on its first use, for calls on a path a function seldom takes.

    A second client costs a cold start its service model and client class; a route
    function that needs the management API only for a rare case (a session held by
    another connection, a connection over its message budget) should not pay that on
    every cold start. The client is made once, under the clients' lock.
    """

    def __init__(self, create: Any) -> None:
        self._create = create
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        with _clients_lock:
            if self._client is None:
                self._client = self._create()
        return getattr(self._client, name)


def dynamodb_client() -> Any:
    """A new DynamoDB client for the route functions (create it once, at cold init)."""
    return _client("dynamodb", config=_ROUTE_CONFIG)


def shared_dynamodb_client() -> Any:
    """One DynamoDB client per process, created on first use and then reused by every turn."""
    with _clients_lock:
        if not _shared_dynamodb:
            _shared_dynamodb.append(_client("dynamodb", config=_ROUTE_CONFIG))
        return _shared_dynamodb[0]


def route_management_client(endpoint_url: str) -> Any:
    """A new management API client for a route function (create it once, at cold init):
    the route functions' short timeouts, so a stuck call fails inside the function's."""
    return _client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=_ROUTE_CONFIG)


def management_client(endpoint_url: str) -> Any:
    """The API Gateway management API client for one callback URL, reused across turns."""
    with _clients_lock:
        client = _management_clients.get(endpoint_url)
        if client is None:
            client = _client(
                "apigatewaymanagementapi", endpoint_url=endpoint_url, config=_POST_CONFIG
            )
            _management_clients[endpoint_url] = client
            while len(_management_clients) > MAX_MANAGEMENT_CLIENTS:
                _management_clients.popitem(last=False)
        else:
            _management_clients.move_to_end(endpoint_url)
        return client


def bedrock_runtime_client(read_timeout_s: float) -> Any:
    """A Bedrock runtime client whose calls cannot outlive `read_timeout_s` per read.

    Throttling is retried once at most: a Lex turn has no time for a long backoff.
    """
    config = Config(
        connect_timeout=2,
        read_timeout=read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": 2},
    )
    return _client("bedrock-runtime", config=config)


def error_code(error: BaseException) -> str:
    """The AWS error code of a failed call ("GoneException"), or the exception's class name."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def http_status(error: BaseException) -> int | None:
    """The HTTP status of a failed call, when the service answered at all."""
    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None
