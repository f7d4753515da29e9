"""Every bad value of every `scripts/local` flag: exit status 2, one `error:` line that
names the flag and the value and says what would be valid, and nothing left behind."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from local_stack_helpers import cli_environment

from local_stack.__main__ import build_parser
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
# Placeholders filled per run: a port that is taken, a port nothing listens on, a
# handler file whose import fails.
TAKEN_PORT = "{taken_port}"
CLOSED_URL = "http://127.0.0.1:{closed_port}"
BROKEN_HANDLER = "{broken_handler}:handler"
# Folders that are not a Lex Web UI build to serve.
NO_INDEX_DIR = "{no_index_dir}"
NOT_A_BUILD_DIR = "{not_a_build_dir}"
LEX_V1_BUILD_DIR = "{lex_v1_build_dir}"
# A Node.js module that loads but has no such export.
MISSING_FUNCTION = "{node_handler}:no_such_export"


@dataclass(frozen=True)
class BadFlag:
    command_line: str  # the flags, as typed after scripts/local
    value: str | None  # what the error line must quote; None when no value was given
    valid: str  # what the error line says would be valid

    @property
    def args(self) -> list[str]:
        return shlex.split(self.command_line)

    @property
    def flag(self) -> str:
        return self.args[0].partition("=")[0]


BAD_FLAGS = [
    BadFlag("--port abc", "'abc'", "must be a whole number"),
    BadFlag("--port -1", "-1", "0-65535"),
    BadFlag("--port 70000", "70000", "0-65535"),
    BadFlag(f"--port {TAKEN_PORT}", TAKEN_PORT, "or 0 for any free one"),
    BadFlag("--port", None, "expected one argument"),
    BadFlag("--auth cognito", "'cognito'", "one of iam, none"),
    BadFlag("--session-ids uuid", "'uuid'", "one of stock, identity"),
    BadFlag("--stage 'bad stage!'", "'bad stage!'", "letters, digits, hyphens"),
    BadFlag("--stage ''", "''", "1-128 letters"),
    BadFlag("--region nowhere", "'nowhere'", "an AWS region, e.g. us-east-1"),
    BadFlag("--token-rate 0", "0", "a number above 0"),
    BadFlag("--token-rate fast", "'fast'", "must be a number"),
    BadFlag("--token-rate inf", "'inf'", "must be a number"),
    BadFlag("--dynamodb-endpoint 127.0.0.1:8000", "'127.0.0.1:8000'", "an http:// or https://"),
    BadFlag(
        f"--dynamodb-endpoint {CLOSED_URL}", f"'{CLOSED_URL}'", "DynamoDB endpoint that answers"
    ),
    BadFlag("--bedrock=yes", "'yes'", "--help lists the flags"),
    # No AWS credentials anywhere in this run's environment (see `run_cli`).
    BadFlag("--bedrock", None, "needs AWS credentials"),
    BadFlag("--model-id gpt", "'gpt'", "a Bedrock model id such as"),
    BadFlag("--handler bot.py", "'bot.py'", "path/to/file.py:function"),
    BadFlag("--handler bot.rb:handler", "'bot.rb:handler'", "must name a .py, .mjs, .js, .cjs"),
    BadFlag("--handler missing.mjs:handler", "'missing.mjs:handler'", "an existing file"),
    BadFlag(f"--handler {MISSING_FUNCTION}", f"'{MISSING_FUNCTION}'", "Runtime.HandlerNotFound"),
    BadFlag("--handler missing.py:handler", "'missing.py:handler'", "an existing file"),
    BadFlag(f"--handler {BROKEN_HANDLER}", f"'{BROKEN_HANDLER}'", "must load as a fulfillment"),
    BadFlag("--quota-limit -1", "-1", "a whole number of at least 1"),
    BadFlag("--quota-limit 0", "0", "a whole number of at least 1"),
    BadFlag("--quota-limit many", "'many'", "a whole number"),
    BadFlag("--quota-period YEAR", "'YEAR'", "one of DAY, WEEK, MONTH"),
    BadFlag("--quota-per-identity-limit 0", "0", "a whole number of at least 1"),
    BadFlag("--quota-per-identity-limit lots", "'lots'", "a whole number"),
    BadFlag("--quota-per-source-limit 0", "0", "a whole number of at least 1"),
    BadFlag("--quota-per-source-limit lots", "'lots'", "a whole number"),
    BadFlag("--callback-latency-ms -5", "'-5'", "milliseconds, 0 or more"),
    BadFlag("--callback-latency-ms slow", "'slow'", "a number"),
    BadFlag("--web-ui /no/such/folder", "'/no/such/folder'", "a folder holding a built Lex Web UI"),
    BadFlag(f"--web-ui {NO_INDEX_DIR}", f"'{NO_INDEX_DIR}'", "has no index.html"),
    BadFlag(f"--web-ui {NOT_A_BUILD_DIR}", f"'{NOT_A_BUILD_DIR}'", "not a Lex Web UI build"),
    BadFlag(f"--web-ui {LEX_V1_BUILD_DIR}", LEX_V1_BUILD_DIR, "configured for a Lex V2 bot"),
    BadFlag("--web-ui", None, "expected one argument"),
    BadFlag("--allow-origin 127.0.0.1:5173", "'127.0.0.1:5173'", "scheme://host[:port]"),
    BadFlag(
        "--allow-origin http://127.0.0.1:5173/app", "'http://127.0.0.1:5173/app'", "with no path"
    ),
    BadFlag("--verbose=1", "'1'", "--help lists the flags"),
    BadFlag("--no-such-flag", None, "--help lists the flags"),
]


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    temp_dir: Path
    session: int


@pytest.fixture
def placeholders(tmp_path: Path) -> Iterator[dict[str, str]]:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    closed_port = free_port()  # nothing listens there
    broken = tmp_path / "broken_bot.py"
    broken.write_text("raise RuntimeError('this bot does not load')\n")
    folders = {name: tmp_path / name for name in ("no_index", "not_a_build", "lex_v1")}
    for folder in folders.values():
        folder.mkdir()
    (folders["no_index"] / "lex-web-ui.min.js").write_text("")
    for name in ("not_a_build", "lex_v1"):
        (folders[name] / "index.html").write_text("<html></html>")
    for name in ("lex-web-ui-loader.min.js", "lex-web-ui.min.js"):
        (folders["lex_v1"] / name).write_text("")
    (folders["lex_v1"] / "lex-web-ui-loader-config.json").write_text(
        '{"lex": {"botName": "OrderFlowers"}}'
    )
    node = tmp_path / "bot.mjs"
    node.write_text("export const handler = async () => ({});\n")
    yield {
        "no_index_dir": str(folders["no_index"]),
        "not_a_build_dir": str(folders["not_a_build"]),
        "lex_v1_build_dir": str(folders["lex_v1"]),
        "taken_port": str(taken.getsockname()[1]),
        "closed_port": str(closed_port),
        "broken_handler": str(broken),
        "node_handler": str(node),
    }
    taken.close()


def run_cli(args: list[str], tmp_path: Path) -> Run:
    """`python -m local_stack` as scripts/local runs it, in a session of its own, with
    its own temp folder and no AWS credentials or config."""
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    environment = {**cli_environment(tmp_path), "TMPDIR": str(temp_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Run(process.returncode, stdout, stderr, temp_dir, process.pid)


def processes_in_session(session: int) -> list[int]:
    """Live processes whose session id is `session` (the CLI's and its children's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rpartition(")")[2].split()
        if int(fields[3]) == session:
            found.append(int(entry.name))
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=lambda bad: bad.command_line)
def test_a_bad_flag_gives_one_error_line_and_leaves_nothing_behind(
    bad: BadFlag, placeholders: dict[str, str], tmp_path: Path
):
    args = [arg.format(**placeholders) for arg in bad.args]
    # A fixed port for every run that does not test --port itself, so that the test can
    # see it is free again afterwards.
    port = free_port()
    if bad.flag != "--port":
        args = ["--port", str(port), *args]

    run = run_cli(args, tmp_path)

    assert run.status == 2, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, run.stderr
    line = errors[0]
    assert line.startswith("error: ") and bad.flag in line, line
    if bad.value is not None:
        assert bad.value.format(**placeholders) in line
    assert bad.valid in line
    # Only the stack's own progress lines may come before it, never the running banner.
    assert run.stdout == ""
    assert run.stderr.splitlines()[-1] == line
    # Nothing left behind: no process of its session, no temp folder, no listening port.
    assert processes_in_session(run.session) == []
    assert list(run.temp_dir.iterdir()) == []
    assert port_is_free(port)


def test_the_table_covers_every_flag():
    flags = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option not in ("-h", "--help")
    }
    assert flags <= {bad.flag for bad in BAD_FLAGS}
