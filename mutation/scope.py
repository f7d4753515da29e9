"""What the mutation run mutates, which tests may catch it, and which mutants it plants.

Each target is one module, optionally narrowed to some of its functions: a wrong line
there is a security or money bug. Its `tests` are where the run looks; coverage then picks,
per mutant, only those of them that execute the mutated lines. A test
(tests/test_mutation_scope.py) checks that every path and function named here exists, so
this list cannot silently name code that has moved.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """One module to mutate.

    Args:
        name: the module's name in the report.
        path: the file, relative to the repository root.
        tests: test files or folders that may catch its mutants.
        functions: only mutate inside these functions or methods (`Class.method`, or a
            class name for all of its methods); empty: the whole module.
        by_coverage: pick each mutant's tests by coverage. False where the tests run the
            module in a process that coverage cannot follow (one started with an
            environment of its own): every mutant then runs all of `tests`.
    """

    name: str
    path: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()
    by_coverage: bool = True


TARGETS: tuple[Target, ...] = (
    Target(
        name="origin check",
        path="local_stack/gateway/own_origin.py",
        tests=(
            "tests/local_stack/test_page_origin.py",
            "tests/local_stack/test_origin_extensions.py",
        ),
    ),
    Target(
        name="quota",
        path="functions/lexstream_runtime/quota.py",
        tests=(
            "tests/functions/test_quota.py",
            "tests/functions/test_quota_limits_and_expiry.py",
            "tests/functions/test_declared_environment.py",
            "tests/functions/test_quota_fairness.py",
            "tests/functions/test_connect.py",
            "tests/functions/test_default.py",
        ),
    ),
    Target(
        name="session ownership",
        path="functions/lexstream_runtime/sessions.py",
        tests=(
            "tests/functions/test_session_ownership.py",
            "tests/functions/test_gone_by_status.py",
            "tests/functions/test_session_row_age.py",
            "tests/functions/test_session_claim_rounds.py",
            "tests/functions/test_connect.py",
        ),
    ),
    Target(
        name="connect",
        path="functions/connect/on_connect.py",
        tests=(
            "tests/functions/test_connect.py",
            "tests/functions/test_session_ownership.py",
            "tests/functions/test_quota_fairness.py",
            "tests/functions/test_declared_environment.py",
            "tests/functions/test_metrics.py",
            "tests/functions/test_connect_identity_sessions.py",
        ),
    ),
    Target(
        name="callback URL policy",
        path="functions/lexstream_runtime/callback_url.py",
        tests=(
            "tests/functions/test_callback_url.py",
            "tests/functions/test_callback_url_edges.py",
            "tests/functions/test_metrics.py",
            "tests/functions/test_callback_url_same_endpoint.py",
            "tests/functions/test_streaming_rules.py",
            "tests/functions/test_streaming.py",
        ),
    ),
    Target(
        name="SigV4 verifier",
        path="local_stack/sigv4.py",
        # Headers signed by botocore; presigned connects through the gateway.
        tests=(
            "tests/local_stack/test_sigv4.py",
            "tests/local_stack/test_sigv4_presign_bounds.py",
            "tests/local_stack/test_gateway.py",
        ),
    ),
    Target(
        name="provider input conversion",
        path="provider/schema.py",
        functions=("args_from_inputs", "_from_wire", "error_message"),
        tests=(
            "tests/provider/test_provider_construct.py",
            "tests/provider/test_provider_input_types.py",
            "tests/provider/test_input_conversion_by_type.py",
        ),
        # The plugin runs as the engine starts it, with an environment of its own.
        by_coverage=False,
    ),
)

# Which of cosmic-ray's binary operator replacements to plant: the plausible slip for
# each operator, not every other operator (`a + b` → `a << b` only fails with a
# TypeError, and twelve of them per `+` would take most of the time budget).
BINARY_SLIPS: dict[str, frozenset[str]] = {
    "Add": frozenset({"Sub"}),
    "Sub": frozenset({"Add"}),
    "Mul": frozenset({"Div", "Add"}),
    "Div": frozenset({"Mul", "FloorDiv"}),
    "FloorDiv": frozenset({"Div", "Mul"}),
    "Mod": frozenset({"FloorDiv"}),
    "Pow": frozenset({"Mul"}),
    "BitOr": frozenset({"BitAnd"}),
    "BitAnd": frozenset({"BitOr"}),
    "BitXor": frozenset({"BitOr"}),
    "LShift": frozenset({"RShift"}),
    "RShift": frozenset({"LShift"}),
}
# `==` → `is` depends on whether CPython happens to intern a value: not a behaviour a
# test can pin, so comparisons become identity checks only when they already were one.
IDENTITY_OPERATORS = frozenset({"Is", "IsNot"})

# Mutants that change nothing observable, by module path: `mutation.__main__.mutant_key`
# (operator, the line, what the mutant makes of it) → why no test can tell them apart.
# They are left out of the score; `scripts/mutation --report` lists them with the reason.
_QUOTA_LINE = "DYNAMODB, per_identity=AUTH_MODE == contract.AUTH_IAM, per_source=True"
_NEXT_MONTH = "first_of_next = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)"
EQUIVALENT: dict[str, dict[str, str]] = {
    "functions/lexstream_runtime/quota.py": {
        f"core/NumberReplacer: {_NEXT_MONTH} => "
        "first_of_next = (midnight.replace(day= 2) + timedelta(days=32)).replace(day=1)": (
            "from the 2nd, 32 days land on the 3rd to 6th of the next month, and the day "
            "is then set to 1 all the same"
        ),
        f"core/NumberReplacer: {_NEXT_MONTH} => "
        "first_of_next = (midnight.replace(day=1) + timedelta(days= 31)).replace(day=1)": (
            "from the 1st, 31 days land on the 1st to 4th of the next month (months have "
            "28 to 31 days), and the day is then set to 1 all the same"
        ),
        f"core/NumberReplacer: {_NEXT_MONTH} => "
        "first_of_next = (midnight.replace(day=1) + timedelta(days= 33)).replace(day=1)": (
            "from the 1st, 33 days land on the 3rd to 6th of the next month, and the day "
            "is then set to 1 all the same"
        ),
        "core/ReplaceBinaryOperator_Mul_Div: cls, dynamodb: Any, *, per_identity: bool = "
        "False, per_source: bool = False => cls, dynamodb: Any, /, per_identity: bool = "
        "False, per_source: bool = False": (
            "the `*` of from_environment's signature, not a multiplication: as `/` it only "
            "also allows passing the flags by position, and every caller names them"
        ),
    },
    "functions/connect/on_connect.py": {
        "core/ReplaceComparisonOperator_Eq_LtE: if AUTH_MODE == contract.AUTH_IAM: => "
        "if AUTH_MODE <= contract.AUTH_IAM:": (
            "the cold init admits only 'iam' and 'none', and 'none' <= 'iam' is false"
        ),
        f"core/ReplaceComparisonOperator_Eq_Gt: {_QUOTA_LINE} => "
        f"{_QUOTA_LINE.replace('==', '>')}": (
            "in 'none' mode the limit is then read (the component always sets it for "
            "$connect) but never used: those connects carry no identity"
        ),
        f"core/ReplaceComparisonOperator_Eq_GtE: {_QUOTA_LINE} => "
        f"{_QUOTA_LINE.replace('==', '>=')}": "as `>`, and 'iam' >= 'iam' as `==`",
        f"core/ReplaceComparisonOperator_Eq_LtE: {_QUOTA_LINE} => "
        f"{_QUOTA_LINE.replace('==', '<=')}": (
            "the cold init admits only 'iam' and 'none', and 'none' <= 'iam' is false"
        ),
    },
    "functions/lexstream_runtime/callback_url.py": {
        'core/ReplaceComparisonOperator_Eq_LtE: if url.scheme == "http" and host not in '
        '_LOOPBACK_HOSTS: => if url.scheme <= "http" and host not in _LOOPBACK_HOSTS:': (
            "the scheme is already known to be http or https here, and 'https' <= 'http' is false"
        ),
        "core/ReplaceTrueWithFalse: @dataclass(frozen=True) => @dataclass(frozen=False)": (
            "nothing assigns to a CallbackPolicy; frozen only guards against a future "
            "caller doing so"
        ),
    },
    "provider/schema.py": {
        "core/ReplaceComparisonOperator_IsNot_NotEq: hint = next(m for m in "
        "typing.get_args(hint) if m is not type(None)) => hint = next(m for m in "
        "typing.get_args(hint) if m != type(None))": (
            "types compare by identity: NoneType defines no equality of its own"
        ),
    },
    "local_stack/sigv4.py": {
        'core/NumberReplacer: raise SignatureError(f"signed header {error.args[0]!r} is not '
        'in the request") from None => raise SignatureError(f"signed header '
        '{error.args[ -1]!r} is not in the request") from None': (
            "a KeyError carries one argument, the missing key: its first is its last"
        ),
    },
    "functions/lexstream_runtime/sessions.py": {
        "core/ExceptionReplacer: except (KeyError, TypeError, ValueError): => "
        "except (KeyError, CosmicRayTestingException, ValueError):": (
            "boto3's low-level client gives every attribute as a dict of strings, so "
            "int(row[name]['N']) can raise KeyError or ValueError but never TypeError"
        ),
        "core/ReplaceTrueWithFalse: @dataclass(frozen=True) => @dataclass(frozen=False)": (
            "nothing assigns to or hashes a Claim; frozen only guards against a future "
            "caller doing so"
        ),
    },
}


def find_definition(tree: ast.AST, name: str) -> ast.AST | None:
    """The function or class `name` ("Class.method") names at the top of `tree`, or None."""
    first, _, rest = name.partition(".")
    for node in getattr(tree, "body", []):
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(node, kinds) and node.name == first:
            return find_definition(node, rest) if rest else node
    return None
