"""Run the mutation run: `python -m mutation [--only NAME ...] [--list]` (scripts/mutation).

It works on a copy of the committed tree (HEAD), never on the working tree. For each
target in `scope.TARGETS`, one module at a time:
1. its tests run once under coverage, recording which test executes which line, and must
   pass;
2. cosmic-ray lists the module's mutants; those outside the target's functions, inside
   type annotations, or of a kind `scope` does not plant are marked skipped;
3. each remaining mutant is applied to the copy's file (cosmic-ray restores it after), and
   only the tests that execute its lines run, those that failed on earlier mutants of
   its lines (then of the module) first, then fastest first, stopping at the first
   failure (for a line outside any function, which runs at import: every test that
   executes the module). A mutant that no test executes survives without a run.

Results: `mutation/results/<module>.json` per module, and `mutation/results/latest.md`
with every module measured so far. cosmic-ray's own session database for each module is
beside them (`cr-report mutation/results/<module>.sqlite` reads it).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import json
import os
import queue
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import coverage
from cosmic_ray.commands import init
from cosmic_ray.mutating import mutate_and_test
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkItem, WorkResult

from functions import layout
from mutation import scope
from mutation.measure import TEST_VARIABLE
from mutation.order import Killers, failed_test
from tests.conftest import SHARED_DYNAMODB_LOCAL, running_dynamodb_local

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "mutation" / "results"
NOT_RUN = "no test executes this line"
# pytest's options for the measuring run and every mutant's run alike. Each mutant starts
# its own pytest, so what pytest loads at its start is paid once per mutant: without
# Hypothesis's plugin (which imports all of Hypothesis, about half of that cost), a test
# that uses Hypothesis still runs; only its statistics and options are gone.
PYTEST_OPTIONS = ("-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this target (its name in the report or its path); repeatable",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="mutants tested at once, each in its own copy of the tree (default: one per core)",
    )
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument(
        "--report",
        action="store_true",
        help="only write mutation/results/latest.md again from the last results",
    )
    args = parser.parse_args(argv)
    if args.list:
        for target in scope.TARGETS:
            only = f" ({', '.join(target.functions)})" if target.functions else ""
            print(f"{target.name}: {target.path}{only}")
        return 0
    if args.report:
        print(write_report().read_text())
        return 0
    targets = _chosen(args.only, parser)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs} must be 1 or more")
    os.chdir(ROOT)
    commit = _git("rev-parse", "--short", "HEAD")
    for target in targets:
        if _has_changes(target.path):
            print(f"note: {target.path} has uncommitted changes; the run measures {commit}")
    # Stopped by a signal, it unwinds as on Ctrl+C: servers stop, the copy is removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="lexstream-mutation-") as scratch,
        running_dynamodb_local(Path(scratch) / "dynamodb-local.log") as endpoint,
    ):
        trees = [committed_tree(Path(scratch) / f"tree-{n}") for n in range(args.jobs)]
        os.environ[SHARED_DYNAMODB_LOCAL] = endpoint
        os.environ["PYTHONPATH"] = _python_path(trees[0])
        os.chdir(trees[0])
        for target in targets:
            summary = run_target(target, trees, Path(scratch), commit)
            (RESULTS / f"{_slug(target)}.json").write_text(json.dumps(summary, indent=1))
            print(_summary_line(summary), flush=True)
    report = write_report()
    print(f"\nwrote {report.relative_to(ROOT)}")
    return 0


def _python_path(tree: Path) -> str:
    # The copy's own code first: `lexstream_runtime` is installed from the working tree.
    return os.pathsep.join([str(tree / "functions"), str(tree)])


def committed_tree(tree: Path) -> Path:
    """The committed files of HEAD in `tree`: mutants are planted there, never in the
    working tree, so the run measures one commit and an interrupted run leaves nothing
    mutated behind."""
    tree.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    if (ROOT / "node_modules").is_dir():
        (tree / "node_modules").symlink_to(ROOT / "node_modules")
    return tree


def _chosen(only: list[str] | None, parser: argparse.ArgumentParser) -> list[scope.Target]:
    if not only:
        return list(scope.TARGETS)
    known = {key: t for t in scope.TARGETS for key in (t.name, t.path, _slug(t))}
    unknown = [name for name in only if name not in known]
    if unknown:
        names = ", ".join(repr(t.name) for t in scope.TARGETS)
        parser.error(f"--only {unknown[0]!r} is not a target; known targets: {names}")
    return [known[name] for name in dict.fromkeys(only)]


def _slug(target: scope.Target) -> str:
    return target.name.replace(" ", "-").lower()


def _has_changes(path: str) -> bool:
    return (
        subprocess.run(["git", "diff", "--quiet", "HEAD", "--", path], check=False).returncode != 0
    )


# --- one target -------------------------------------------------------------------------


def run_target(
    target: scope.Target, trees: list[Path], scratch: Path, commit: str
) -> dict[str, Any]:
    started, load_before, cpu_before = time.monotonic(), os.getloadavg(), _children_cpu_s()
    source = Path(target.path)
    original = source.read_text()
    print(f"\n== {target.name} ({target.path}): which test runs which line", flush=True)
    tests_by_line, durations = measure(target, trees[0], scratch / _slug(target))
    print(f"   {len(durations)} tests, {len(tests_by_line)} lines executed", flush=True)
    database = RESULTS / f"{_slug(target)}.sqlite"
    outcomes: list[dict[str, Any]] = []
    with use_db(str(database), WorkDB.Mode.create) as work_db:
        init([source], work_db, {})
        skipped = skip_out_of_scope(work_db, target, original)
        pending = list(work_db.pending_work_items)
        print(f"   {len(pending)} mutants ({skipped} skipped)", flush=True)
        lines = original.splitlines()
        at_import = _import_time_lines(ast.parse(original), len(lines))
        if target.by_coverage:
            everyone = set().union(*tests_by_line.values())
            tests_by_line.update({line: everyone for line in at_import})
        else:
            tests_by_line.update({line: set(durations) for line in range(1, len(lines) + 1)})
        free_trees: queue.Queue[Path] = queue.Queue()
        for tree in trees:
            free_trees.put(tree)

        killers = Killers()

        def run(item: WorkItem) -> tuple[WorkItem, dict[str, Any]]:
            tree = free_trees.get()
            try:
                return item, run_mutant(item, tree, tests_by_line, durations, killers)
            finally:
                free_trees.put(tree)

        with concurrent.futures.ThreadPoolExecutor(len(trees)) as pool:
            try:
                finished = concurrent.futures.as_completed([pool.submit(run, i) for i in pending])
                for future in finished:
                    item, outcome = future.result()
                    work_db.set_result(item.job_id, outcome.pop("result"))
                    outcomes.append(outcome)
                    mark = {"killed": ".", "survived": "S", "not run": "N"}
                    print(mark.get(outcome["status"], "?"), end="", flush=True)
            except BaseException:
                # Stopped: the mutants not yet started never start.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        print()
    return {
        "target": target.name,
        "path": target.path,
        "functions": list(target.functions),
        "commit": commit,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(time.monotonic() - started, 1),
        # What the test runs cost in CPU: on an idle machine, about the wall time of a run
        # with one job (the shared DynamoDB Local's own share is not in it).
        "cpu_time_s": round(_children_cpu_s() - cpu_before, 1),
        "jobs": len(trees),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "skipped": skipped,
        "mutants": outcomes,
    }


def measure(
    target: scope.Target, tree: Path, scratch: Path
) -> tuple[dict[int, set[str]], dict[str, float]]:
    """{line: node ids of the tests that execute it} for the target, and each test's time."""
    scratch.mkdir()
    data_file = scratch / ".coverage"
    rcfile = scratch / "coveragerc"
    durations_file = scratch / "durations.json"
    copies = _archive_names(ROOT / target.path)
    # Only the module and its copies in the archives: measuring the rest costs time.
    include = [str(tree / target.path), *(f"*{name}" for name in copies)]
    rcfile.write_text(
        "[run]\n"
        f"data_file = {data_file}\n"
        "parallel = true\n"
        "patch = subprocess\n"
        # Processes a test starts record its node id (see mutation.measure).
        f"context = ${{{TEST_VARIABLE}}}\n"
        "include =\n" + "".join(f"    {pattern}\n" for pattern in include)
    )
    command = [
        sys.executable,
        "-m",
        "mutation.measure",
        str(rcfile),
        str(durations_file),
        "--",
        *PYTEST_OPTIONS,
        *target.tests,
    ]
    finished = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    if finished.returncode != 0:
        tail = "\n".join(finished.stdout.splitlines()[-30:])
        raise SystemExit(f"{target.name}: its tests fail without any mutant:\n{tail}")
    cov = coverage.Coverage(config_file=str(rcfile))
    cov.combine(data_paths=[str(scratch)], strict=True)
    data = cov.get_data()
    tests_by_line: dict[int, set[str]] = defaultdict(set)
    for measured in data.measured_files():
        # Each Lambda archive runs its own copy of the module, in a folder that is gone
        # by now: it is known by its place in the archive.
        if measured != str(tree / target.path) and not measured.endswith(copies):
            continue
        for line, contexts in data.contexts_by_lineno(measured).items():
            for context in contexts:
                node_id = next((part for part in reversed(context.split("|")) if part), "")
                if node_id:
                    tests_by_line[line].add(node_id)
    return tests_by_line, json.loads(durations_file.read_text())


def _archive_names(source: Path) -> tuple[str, ...]:
    """ "/<name>" for every place `source` has in a Lambda archive or the layer."""
    entries = [*layout.layer_files().items()]
    for name in layout.FUNCTION_NAMES:
        entries += layout.function_files(name).items()
    return tuple(sorted({f"/{name}" for name, path in entries if path.resolve() == source}))


def _import_time_lines(tree: ast.Module, count: int) -> set[int]:
    """Lines outside every function body: they run when the module is imported, which
    may happen before any test starts (so coverage credits no test with them), and every
    test that uses the module depends on them."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1))
    return set(range(1, count + 1)) - inside


def skip_out_of_scope(work_db: WorkDB, target: scope.Target, original: str) -> int:
    """Mark skipped (as cosmic-ray's own filters do) the mutants this run does not plant."""
    tree = ast.parse(original)
    functions = _function_spans(tree, target.functions)
    annotations = list(_annotation_spans(tree))
    skipped = 0
    for item in list(work_db.pending_work_items):
        (mutation,) = item.mutations
        reason = _skip_reason(mutation, functions, annotations)
        if reason:
            work_db.set_result(
                item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=reason)
            )
            skipped += 1
    return skipped


Span = tuple[tuple[int, int], tuple[int, int]]


def _skip_reason(mutation: Any, functions: list[Span] | None, annotations: list[Span]) -> str:
    position = tuple(mutation.start_pos)
    if functions is not None and not any(a <= position < b for a, b in functions):
        return "outside the target's functions"
    if any(a <= position < b for a, b in annotations):
        return "inside a type annotation"
    kind, _, change = mutation.operator_name.partition("/")[2].partition("_")
    original_op, _, replacement = change.partition("_")
    if kind == "ReplaceBinaryOperator" and replacement not in scope.BINARY_SLIPS.get(
        original_op, ()
    ):
        return "binary operator slip not planted"
    if (
        kind == "ReplaceComparisonOperator"
        and replacement in scope.IDENTITY_OPERATORS
        and original_op not in scope.IDENTITY_OPERATORS
    ):
        return "identity comparison not planted"
    return ""


def _function_spans(tree: ast.Module, names: tuple[str, ...]) -> list[Span] | None:
    if not names:
        return None
    spans = []
    for name in names:
        node = scope.find_definition(tree, name)
        if node is None:
            raise SystemExit(f"no function or class {name!r} to mutate")
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        spans.append(((first, 0), (node.end_lineno or node.lineno, 10**6)))
    return spans


def _annotation_spans(tree: ast.Module) -> Iterator[Span]:
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for annotation in filter(None, found):
            yield (
                (annotation.lineno, annotation.col_offset),
                (annotation.end_lineno or annotation.lineno, annotation.end_col_offset or 0),
            )


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_mutant(
    item: WorkItem,
    tree: Path,
    tests_by_line: dict[int, set[str]],
    durations: dict[str, float],
    killers: Killers | None = None,
) -> dict[str, Any]:
    (mutation,) = item.mutations
    first, last = mutation.start_pos[0], mutation.end_pos[0]
    # The same mutant, planted in this job's own copy of the tree.
    mutations = [attrs.evolve(mutation, module_path=tree / mutation.module_path)]
    lines = range(first, last + 1)
    selected = set().union(*(tests_by_line.get(n, set()) for n in lines))
    tests = (killers or Killers()).order(selected, lines, durations)
    if tests:
        pytest = [sys.executable, "-m", "pytest", "-x", *PYTEST_OPTIONS]
        command = shlex.join(
            ["env", "-C", str(tree), f"PYTHONPATH={_python_path(tree)}", *pytest, *tests]
        )
        budget = 30 + 3 * sum(durations.get(t, 1.0) for t in tests)
        result = mutate_and_test(mutations, command, budget)
    else:
        # Mutated and put back without a run, only for the diff: nothing would notice it.
        result = mutate_and_test(mutations, "true", 30)
        result = WorkResult(
            worker_outcome=result.worker_outcome,
            test_outcome=result.test_outcome,
            diff=result.diff,
            output=NOT_RUN,
        )
    if result.worker_outcome != WorkerOutcome.NORMAL:
        status = "error"
    elif result.test_outcome == TestOutcome.SURVIVED:
        status = "survived" if tests else "not run"
    elif result.test_outcome == TestOutcome.KILLED:
        status = "timeout" if result.output == "timeout" else "killed"
    else:
        status = "error"
    killed_by = failed_test(result.output or "", tests) if status == "killed" else None
    if killed_by and killers is not None:
        for line in lines:
            killers.record(line, killed_by)
    return {
        "result": result,
        "status": status,
        "line": first,
        "operator": mutation.operator_name,
        "occurrence": mutation.occurrence,
        "diff": _changed_lines(result.diff or ""),
        "tests": len(tests),
        # The test that failed first (tests run in order, stopping at the first failure).
        "killed_by": killed_by,
        "output": "" if status == "killed" else (result.output or "")[-2000:],
    }


def mutant_key(operator: str, changed: list[str]) -> str:
    """How `scope.EQUIVALENT` names a mutant: its operator, the line it changes and what it
    makes of it (stable when other lines move)."""
    before = next((line[1:].strip() for line in changed if line.startswith("-")), "")
    after = next((line[1:].strip() for line in changed if line.startswith("+")), "")
    return f"{operator}: {before} => {after}"


def _changed_lines(diff: str) -> list[str]:
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


# --- the report -------------------------------------------------------------------------


def score(summary: dict[str, Any]) -> dict[str, Any]:
    equivalent = scope.EQUIVALENT.get(summary["path"], {})
    counts: dict[str, int] = defaultdict(int)
    for mutant in summary["mutants"]:
        status = mutant["status"]
        if status != "killed" and mutant_key(mutant["operator"], mutant["diff"]) in equivalent:
            status = "equivalent"
        counts[status] += 1
    caught = counts["killed"] + counts["timeout"] + counts["error"]
    counted = caught + counts["survived"] + counts["not run"]
    counts["caught"] = caught
    counts["counted"] = counted
    counts["percent"] = round(100 * caught / counted, 1) if counted else 100.0
    return dict(counts)


def _summary_line(summary: dict[str, Any]) -> str:
    s = score(summary)
    return (
        f"   {summary['target']}: {s['caught']}/{s['counted']} caught ({s['percent']}%), "
        f"{s.get('survived', 0)} survived, {s.get('not run', 0)} not run, "
        f"{s.get('equivalent', 0)} equivalent; {summary['wall_time_s']} s, "
        f"load {summary['load_before'][0]} → {summary['load_after'][0]}"
    )


def write_report() -> Path:
    """mutation/results/latest.md from every module's latest result."""
    summaries = [
        json.loads(path.read_text())
        for target in scope.TARGETS
        if (path := RESULTS / f"{_slug(target)}.json").is_file()
    ]
    out = [
        "# Mutation run",
        "",
        "| module | commit | caught | survived | not run | equivalent | score | wall time | "
        "CPU time | jobs | load (1 min, before → after) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        s = score(summary)
        out.append(
            f"| {summary['target']} | {summary['commit']} | {s['caught']}/{s['counted']} | "
            f"{s.get('survived', 0)} | {s.get('not run', 0)} | {s.get('equivalent', 0)} | "
            f"{s['percent']}% | {summary['wall_time_s']} s | {summary.get('cpu_time_s')} s | "
            f"{summary.get('jobs', 1)} | {summary['load_before'][0]} → {summary['load_after'][0]} |"
        )
    for summary in summaries:
        equivalent = scope.EQUIVALENT.get(summary["path"], {})
        left = [m for m in summary["mutants"] if m["status"] in ("survived", "not run")]
        if not left:
            continue
        out += ["", f"## Left in {summary['target']} ({summary['path']})", ""]
        for mutant in left:
            key = mutant_key(mutant["operator"], mutant["diff"])
            verdict = f"equivalent: {equivalent[key]}" if key in equivalent else mutant["status"]
            out.append(f"- line {mutant['line']} ({verdict}): `{key}`")
    report = RESULTS / "latest.md"
    report.write_text("\n".join(out) + "\n")
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
