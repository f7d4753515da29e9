"""Run the real stack program under Pulumi's mocks and record what it would deploy.

`record_stack("dev")` loads the defaults declared in Pulumi.yaml, then Pulumi.dev.yaml,
then any overrides, into the config (as the CLI would), runs `__main__.py` with mocks that
answer like AWS (realistic ids, names, ARNs, endpoints, so that every `apply` in the
program really runs), and returns every registered resource with its inputs, outputs,
parent and dependencies, plus the resolved stack exports.

Pulumi's runtime state is process-global, so each run happens in a fresh interpreter
(this file, run as a script) and comes back as JSON; results are cached per
(stack, overrides) for the process. No Pulumi CLI and no network are involved.

The program tests read it through `tests/program/harness.py`; the program benchmark
(`benchmarks/program_eval.py`) times this file's own script run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILE = ROOT / "Pulumi.yaml"
PROGRAM = ROOT / "__main__.py"
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
RUN_TIMEOUT_SECONDS = 120


class StackProgramError(Exception):
    """The program failed; the message is the program's own error message."""

    def __init__(self, message: str, error_type: str = "", traceback: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.traceback = traceback


@dataclass(frozen=True)
class ResourceRecord:
    """One registered resource: its type token, logical name, inputs and mocked outputs.

    Inputs arrive as the engine sees them: camelCase keys, numbers as floats, assets as
    `{"archive": {arcname: path}}`. `parent` and `dependencies` are URNs.
    """

    type_: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str = ""
    urn: str = ""
    parent: str = ""
    dependencies: tuple[str, ...] = ()
    custom: bool = True
    retain_on_delete: bool = False
    protect: bool = False


@dataclass(frozen=True)
class StackRecord:
    """Everything one run of the program registered, and its resolved exports."""

    stack: str
    config: dict[str, str]
    resources: list[ResourceRecord]
    exports: dict[str, Any]
    # What the program logged with `pulumi.log.warn` (the CLI shows these on preview and up).
    warnings: tuple[str, ...] = ()
    _by_urn: dict[str, ResourceRecord] = field(default_factory=dict, repr=False)

    def of_type(self, type_: str) -> list[ResourceRecord]:
        """All resources of one type token, e.g. `aws:lambda/function:Function`."""
        return [r for r in self.resources if r.type_ == type_]

    def one(self, type_: str, name_suffix: str = "") -> ResourceRecord:
        """The single resource of `type_` whose logical name ends with `name_suffix`."""
        found = [r for r in self.of_type(type_) if r.name.endswith(name_suffix)]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(
                f"expected one {type_} ending in {name_suffix!r}, found {len(found)} among {names}"
            )
        return found[0]

    def by_urn(self, urn: str) -> ResourceRecord:
        """The resource registered under `urn`."""
        if not self._by_urn:
            self._by_urn.update({r.urn: r for r in self.resources})
        return self._by_urn[urn]


def stack_names() -> list[str]:
    """Every stack that has a `Pulumi.<stack>.yaml` beside the project file."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml"))


def project_config_defaults() -> dict[str, Any]:
    """The defaults declared in Pulumi.yaml, keyed `lexstream:<key>`, as YAML values."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    namespace = project["name"]
    defaults = {}
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            full_key = key if ":" in key else f"{namespace}:{key}"
            defaults[full_key] = declaration["default"]
    return defaults


def stack_config(stack: str, overrides: dict[str, object] | None = None) -> dict[str, str]:
    """The config the CLI would hand the program: project defaults, then the stack file,
    then `overrides` (keys without a namespace are the project's; None removes a key).
    Values are strings; lists and maps are JSON, booleans `true`/`false`."""
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise FileNotFoundError(f"no stack file {stack_file.name}; stacks: {stack_names()}")
    namespace = yaml.safe_load(PROJECT_FILE.read_text())["name"]
    merged: dict[str, Any] = dict(project_config_defaults())
    merged.update((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {})
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{namespace}:{key}"
        if value is None:
            merged.pop(full_key, None)
        else:
            merged[full_key] = value
    return {key: config_string(value) for key, value in merged.items()}


def record_stack(stack: str, overrides: dict[str, object] | None = None) -> StackRecord:
    """Run `__main__.py` for `stack` under mocks; raise StackProgramError if it fails."""
    key = json.dumps(overrides or {}, sort_keys=True, default=str)
    return _record_cached(stack, key)


@functools.cache
def _record_cached(stack: str, overrides_key: str) -> StackRecord:
    config = stack_config(stack, json.loads(overrides_key))
    return run_program(PROGRAM, stack, config)


def run_program(
    program: Path,
    stack: str,
    config: dict[str, str],
    *,
    python: str = sys.executable,
    project_on_path: bool = True,
) -> StackRecord:
    """Run any Pulumi program file under the same mocks, in a fresh `python`.

    With `project_on_path` the project folder is importable (as the CLI makes it for
    `__main__.py`); without it, only what is installed in `python`'s environment is.
    """
    with tempfile.TemporaryDirectory(prefix="lexstream-mock-run-") as workdir:
        out = Path(workdir) / "record.json"
        env = isolated_environment()
        completed = subprocess.run(
            [python, str(Path(__file__).resolve()), stack, str(out), str(program)]
            + (["--project-on-path"] if project_on_path else []),
            input=json.dumps(config),
            capture_output=True,
            text=True,
            # Not the project folder: the program must not depend on where it runs from.
            cwd=workdir,
            env=env,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        if not out.is_file():
            raise RuntimeError(
                f"mock run of {program.name} for stack {stack!r} crashed "
                f"(exit {completed.returncode}):\n{completed.stderr[-4000:]}"
            )
        result = json.loads(out.read_text())
    if "error" in result:
        raise StackProgramError(result["error"], result["error_type"], result["traceback"])
    return StackRecord(
        stack=stack,
        config=config,
        resources=[ResourceRecord(**r) for r in result["resources"]],
        exports=result["exports"],
        warnings=tuple(result["warnings"]),
    )


def isolated_environment() -> dict[str, str]:
    """This process's environment without Pulumi's settings, an import path or the host's
    AWS credentials: what a child process that must touch nothing real runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.pop("PYTHONPATH", None)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return env


def config_string(value: Any) -> str:
    """A config value as the CLI hands it to a program: text, `true`/`false`, or JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


# --------------------------------------------------------------------------------------
# What runs inside the fresh interpreter.
# --------------------------------------------------------------------------------------


def _partition_of(region: str) -> tuple[str, str]:
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def _token(seed: str, length: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    number = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def _jsonable(value: Any) -> Any:
    import pulumi

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {k: _jsonable(v) for k, v in value.assets.items()}}
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return value.path
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class AwsAnswers:
    """What AWS would answer: realistic ids, names, ARNs and endpoints for every resource
    and lookup the component makes, so that every `apply` that derives from them runs.

    Shared by the mocks of a program run and by fake resource monitors that a test serves
    over gRPC. Explicit providers may name another region than the default one.
    """

    def __init__(self, default_region: str = DEFAULT_REGION) -> None:
        self.default_region = default_region
        self.provider_regions: dict[str, str] = {}

    def region(self, provider_reference: str | None) -> str:
        """The region of the provider a request names (a reference is "<urn>::<id>")."""
        provider_id = (provider_reference or "").rsplit("::", 1)[-1]
        return self.provider_regions.get(provider_id, self.default_region)

    def call(self, token: str, provider_reference: str | None) -> dict:
        """The result of the data source `token` (partition, region, caller identity)."""
        region = self.region(provider_reference)
        partition, dns_suffix = _partition_of(region)
        if token == "aws:index/getPartition:getPartition":
            return {
                "id": partition,
                "partition": partition,
                "dnsSuffix": dns_suffix,
                "reverseDnsPrefix": ".".join(reversed(dns_suffix.split("."))),
            }
        if token == "aws:index/getRegion:getRegion":
            return {
                "id": region,
                "region": region,
                "name": region,
                "endpoint": f"ec2.{region}.{dns_suffix}",
                "description": region,
            }
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "id": ACCOUNT_ID,
                "accountId": ACCOUNT_ID,
                "arn": f"arn:{partition}:iam::{ACCOUNT_ID}:user/deployer",
                "userId": "AIDA" + _token("user", 17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
            }
        raise NotImplementedError(f"the mocks do not answer {token}")

    def resource(
        self, typ: str, name: str, inputs: dict, provider_reference: str | None, custom: bool
    ) -> tuple[str, dict]:
        """The id and outputs of a newly registered resource."""
        if typ == "pulumi:providers:aws":
            resource_id = _token(f"provider/{name}", 12)
            self.provider_regions[resource_id] = inputs.get("region", self.default_region)
            return resource_id, inputs
        if custom:
            return self._answer(typ, name, inputs, self.region(provider_reference))
        return "", {}

    def _answer(self, typ: str, name: str, inputs: dict, region: str) -> tuple[str, dict]:
        partition, dns_suffix = _partition_of(region)
        seed = f"{typ}/{name}"
        # The provider's auto-naming: logical name plus a random 7-character suffix.
        physical = inputs.get("name") or f"{name}-{_token(seed, 7, '0123456789abcdef')}"
        arn_base = f"{region}:{ACCOUNT_ID}"
        out = dict(inputs)
        if typ == "aws:apigatewayv2/api:Api":
            api_id = _token(seed, 10)
            out.update(
                name=physical,
                apiEndpoint=f"wss://{api_id}.execute-api.{region}.{dns_suffix}",
                executionArn=f"arn:{partition}:execute-api:{arn_base}:{api_id}",
                arn=f"arn:{partition}:apigateway:{region}::/apis/{api_id}",
            )
            return api_id, out
        if typ == "aws:apigatewayv2/stage:Stage":
            api_id, stage = inputs["apiId"], inputs["name"]
            out.update(
                invokeUrl=f"wss://{api_id}.execute-api.{region}.{dns_suffix}/{stage}",
                executionArn=f"arn:{partition}:execute-api:{arn_base}:{api_id}/{stage}",
                arn=f"arn:{partition}:apigateway:{region}::/apis/{api_id}/stages/{stage}",
            )
            return stage, out
        if typ == "aws:dynamodb/table:Table":
            out.update(name=physical, arn=f"arn:{partition}:dynamodb:{arn_base}:table/{physical}")
            return physical, out
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            group = inputs.get("name") or inputs.get("namePrefix", "") + _token(
                seed, 26, "0123456789"
            )
            # Like the provider: the ARN without the `:*` the API appends.
            out.update(name=group, arn=f"arn:{partition}:logs:{arn_base}:log-group:{group}")
            return group, out
        if typ == "aws:iam/role:Role":
            _limit(typ, physical, 64)
            out.update(
                name=physical,
                arn=f"arn:{partition}:iam::{ACCOUNT_ID}:role/{physical}",
                uniqueId="AROA" + _token(seed, 17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
            )
            return physical, out
        if typ == "aws:iam/policy:Policy":
            _limit(typ, physical, 128)
            arn = f"arn:{partition}:iam::{ACCOUNT_ID}:policy/{physical}"
            out.update(
                name=physical,
                arn=arn,
                policyId="ANPA" + _token(seed, 17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
            )
            return arn, out
        if typ == "aws:iam/rolePolicy:RolePolicy":
            out.update(name=physical)
            return f"{inputs['role']}:{physical}", out
        if typ == "aws:lambda/function:Function":
            _limit(typ, physical, 64)
            arn = f"arn:{partition}:lambda:{arn_base}:function:{physical}"
            out.update(
                name=physical,
                arn=arn,
                invokeArn=(
                    f"arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
                    f"{arn}/invocations"
                ),
                qualifiedArn=f"{arn}:$LATEST",
                version="$LATEST",
            )
            return physical, out
        if typ == "aws:lambda/layerVersion:LayerVersion":
            layer_arn = f"arn:{partition}:lambda:{arn_base}:layer:{inputs['layerName']}"
            out.update(layerArn=layer_arn, arn=f"{layer_arn}:1", version="1")
            return f"{layer_arn}:1", out
        if typ == "aws:apigateway/usagePlan:UsagePlan":
            plan_id = _token(seed, 6)
            out.update(
                name=physical, arn=f"arn:{partition}:apigateway:{region}::/usageplans/{plan_id}"
            )
            return plan_id, out
        if typ == "aws:apigateway/apiKey:ApiKey":
            key_id = _token(seed, 10)
            out.update(
                name=physical,
                value=_token(
                    seed + "/value",
                    40,
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                ),
                arn=f"arn:{partition}:apigateway:{region}::/apikeys/{key_id}",
            )
            return key_id, out
        if typ == "aws:lambda/permission:Permission":
            statement_id = (
                inputs.get("statementId") or f"terraform-{_token(seed, 26, '0123456789')}"
            )
            out.update(statementId=statement_id)
            return statement_id, out
        if typ == "aws:apigatewayv2/domainName:DomainName":
            # A regional domain name points at an API Gateway host in the region's zone.
            configuration = dict(inputs.get("domainNameConfiguration") or {})
            configuration.update(
                targetDomainName=f"d-{_token(seed, 10)}.execute-api.{region}.{dns_suffix}",
                hostedZoneId="Z"
                + _token(seed + "/zone", 13, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
            )
            out.update(
                domainNameConfiguration=configuration,
                apiMappingSelectionExpression="$request.basepath",
                arn=f"arn:{partition}:apigateway:{region}::/domainnames/{inputs['domainName']}",
            )
            return inputs["domainName"], out
        if typ == "aws:apigatewayv2/apiMapping:ApiMapping":
            return _token(seed, 6), out
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            name = inputs["dashboardName"]
            out.update(dashboardArn=f"arn:{partition}:cloudwatch::{ACCOUNT_ID}:dashboard/{name}")
            return name, out
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            _limit(typ, physical, 255)
            out.update(name=physical, arn=f"arn:{partition}:cloudwatch:{arn_base}:alarm:{physical}")
            return physical, out
        if typ == "aws:route53/record:Record":
            record_id = f"{inputs['zoneId']}_{inputs['name']}_{inputs['type']}"
            out.update(fqdn=inputs["name"])
            return record_id, out
        return _token(seed, 7), out


def _run_in_this_process(stack: str, out_path: str, program_path: str, on_path: bool) -> None:
    config: dict[str, str] = json.loads(sys.stdin.read())
    # Running this file as a script puts its own folder first on sys.path; the program
    # must see only the project (as the CLI arranges) or only what is installed.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    if on_path:
        sys.path.insert(0, str(ROOT))
    import pulumi
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_root_resource

    answers = AwsAnswers(config.get("aws:region", DEFAULT_REGION))
    project = yaml.safe_load(PROJECT_FILE.read_text())["name"]
    records: list[dict[str, Any]] = []
    local = threading.local()

    class RealisticMocks(pulumi.runtime.Mocks):
        """Answers like AWS would (see `AwsAnswers`) and records every registration."""

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
            return answers.call(args.token, args.provider)

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            request = local.request
            inputs = dict(args.inputs)
            resource_id, outputs = answers.resource(
                args.typ, args.name, inputs, args.provider, bool(args.custom)
            )
            records.append(
                {
                    "type_": args.typ,
                    "name": args.name,
                    "inputs": _jsonable(inputs),
                    "outputs": _jsonable(outputs),
                    "id": resource_id,
                    "urn": monitor.make_urn(request.parent, request.type, request.name),
                    "parent": request.parent,
                    "dependencies": sorted(set(request.dependencies)),
                    "custom": bool(args.custom),
                    "retain_on_delete": bool(request.retainOnDelete),
                    "protect": bool(request.protect),
                }
            )
            return resource_id, outputs

    class RecordingMonitor(MockMonitor):
        """Hands each registration's parent and dependencies to the mocks (same thread)."""

        def RegisterResource(self, request):
            local.request = request
            try:
                return super().RegisterResource(request)
            finally:
                local.request = None

    mocks = RealisticMocks()
    monitor = RecordingMonitor(mocks)
    # The mocks' engine hands what the program logs to this logger; warnings are recorded.
    warnings: list[str] = []
    logger = logging.getLogger("lexstream.program")
    logger.propagate = False
    logger.addHandler(_Recorder(warnings))
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=logger
    )
    pulumi.runtime.set_all_config(config)
    exports: dict[str, Any] = {}

    def program() -> pulumi.Output[Any]:
        import runpy

        runpy.run_path(program_path, run_name="__main__")
        outputs = get_root_resource().outputs
        return pulumi.Output.all(**outputs).apply(exports.update) if outputs else None

    result: dict[str, Any]
    try:
        pulumi.runtime.test(program)()
        result = {"resources": records, "exports": _jsonable(exports), "warnings": warnings}
    except Exception as error:  # the program's failure is the result being recorded
        import traceback

        result = {
            "error": str(error),
            "error_type": type(error).__name__,
            "traceback": traceback.format_exc(),
        }
    Path(out_path).write_text(json.dumps(result))


class _Recorder(logging.Handler):
    """Keeps the message of every warning logged to it."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.into.append(record.getMessage())


def _limit(typ: str, name: str, maximum: int) -> None:
    # AWS rejects these names when they are too long; so do the mocks.
    if len(name) > maximum:
        raise ValueError(f"{typ} name {name!r} is {len(name)} characters; AWS allows {maximum}")


if __name__ == "__main__":
    _run_in_this_process(
        sys.argv[1], sys.argv[2], sys.argv[3], on_path="--project-on-path" in sys.argv[4:]
    )
