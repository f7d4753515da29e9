"""What a function's cold init loads and leaves behind, in a fresh interpreter with its
archive as the only code on the path (how fast it is, the benchmark measures)."""

from __future__ import annotations

import json

import pytest

from functions import layout
from tests.functions.fresh_init import after_init

ROUTE_FUNCTIONS = ("connect", "disconnect", "default")
# The fulfillment helper: the turn, its callback-URL policy, Markdown to plain text, and
# the Lex response. The route functions never take a path that needs them.
HELPER_MODULES = (
    "lexstream_runtime.streaming",
    "lexstream_runtime.callback_url",
    "lexstream_runtime.plain_text",
    "lexstream_runtime.lex",
)


def _helper_modules_after_init(name: str, folder) -> list[str]:
    probe = f"import json\nprint(json.dumps(sorted({set(HELPER_MODULES)!r} & set(sys.modules))))"
    return json.loads(after_init(name, folder, probe))


@pytest.mark.parametrize("name", ROUTE_FUNCTIONS)
def test_a_route_function_init_does_not_load_the_fulfillment_helper(name, tmp_path):
    assert _helper_modules_after_init(name, tmp_path) == []


def test_the_bedrock_fulfillment_init_loads_the_helper_its_every_turn_uses(tmp_path):
    assert _helper_modules_after_init("bedrock_fulfillment", tmp_path) == sorted(HELPER_MODULES)


# After the init: is the collector running; are the init's objects (the module's
# DynamoDB client, here) out of its reach, frozen; is a new object within it; and how
# much cyclic garbage did the init leave, which freezing keeps instead of freeing.
AFTER_INIT_COLLECTOR = """
import gc
handler_module = sys.modules[sys.argv[2]]
tracked = {id(o) for o in gc.get_objects()}
fresh = ["made after init"]
tracked_fresh = id(fresh) in {id(o) for o in gc.get_objects()}
frozen = gc.get_freeze_count()
gc.unfreeze()
print(json.dumps({
    "enabled": gc.isenabled(),
    "client_frozen": id(handler_module.DYNAMODB.__dict__) not in tracked,
    "new_object_tracked": tracked_fresh,
    "frozen": frozen,
    "garbage_kept": gc.collect(),
}))
"""


@pytest.mark.parametrize("name", layout.FUNCTION_NAMES)
def test_an_init_ends_with_the_collector_running_and_what_it_built_frozen(name, tmp_path):
    state = json.loads(after_init(name, tmp_path, "import json\n" + AFTER_INIT_COLLECTOR))
    assert state["enabled"] is True
    assert state["client_frozen"] is True
    assert state["new_object_tracked"] is True
    assert state["frozen"] > 10_000  # botocore's modules and models, not a handful
    # The price of freezing: the init's own cyclic garbage is kept. A few hundred objects.
    assert state["garbage_kept"] < 1_000
