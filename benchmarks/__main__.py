"""Run the benchmarks, print the tables, write JSON and Markdown.

python -m benchmarks                 # everything, default scenarios (~3 minutes on 2 cores)
python -m benchmarks --quick         # smaller scenarios, one repetition (under a minute)
python -m benchmarks --only relay,cold_start
python -m benchmarks --cold-start-python .venv-runtime/bin/python   # as scripts/bench does
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import cold_start, concurrency, program_eval, relay
from .machine import machine_info
from .report import render

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("relay", "concurrency", "cold_start", "program")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _number_list(
    convert: type[int] | type[float], minimum: float, what: str, example: str
) -> Callable[[str], tuple[Any, ...]]:
    """An argparse type for comma-separated numbers >= `minimum`, e.g. "0,30"."""

    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(convert(part) for part in text.split(",") if part.strip())
        except ValueError:
            values = ()
        if not values or any(value < minimum for value in values):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what} >= {minimum:g} such as {example}; got {text!r}"
            )
        return values

    return parse


def _only(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in BENCHMARKS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(unknown) or text!r}; "
            f"expected a comma-separated subset of {', '.join(BENCHMARKS)}"
        )
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description="lexstream benchmarks (all on loopback)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller scenarios, one repetition each"
    )
    parser.add_argument("--only", type=_only, default=BENCHMARKS, help="e.g. relay,cold_start")
    parser.add_argument("--chunks", type=_positive_int, help="relay: chunks per turn (400)")
    parser.add_argument("--rate", type=_positive_float, help="model chunks per second (50)")
    parser.add_argument(
        "--latencies",
        type=_number_list(float, 0, "milliseconds", "0,30"),
        help="relay: callback latencies in ms (0,30)",
    )
    parser.add_argument(
        "--sessions",
        type=_number_list(int, 1, "whole numbers", "20,200"),
        help="concurrency: session counts (20,200)",
    )
    parser.add_argument(
        "--session-chunks", type=_positive_int, help="concurrency: chunks per session (100)"
    )
    parser.add_argument("--repeat", type=_positive_int, help="repetitions (relay 3, ...)")
    parser.add_argument(
        "--cold-start-python",
        metavar="PATH",
        help="cold start: the interpreter to measure with, ideally the functions' Lambda "
        "runtime version with boto3 installed (default: this one; scripts/bench finds one)",
    )
    parser.add_argument(
        "--cold-start-against",
        metavar="REV",
        help="cold start: also measure the functions of this git revision in the same "
        "rounds (e.g. main), for a before/after from one run",
    )
    parser.add_argument(
        "--cold-start-instructions",
        action="store_true",
        help="cold start: also count each init's instructions once with valgrind, which "
        "other work on the machine does not change (needs valgrind)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON results file; the Markdown goes beside it (.md). Default: "
        "benchmarks/results/latest.json, or quick.json with --quick",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the functions' and servers' log lines"
    )
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> dict[str, Callable[[], dict[str, Any]]]:
    """The benchmarks to run, with their settings (`--quick` shrinks the defaults)."""
    quick = args.quick
    rate = args.rate or 50.0
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "relay": lambda: relay.run(
            chunks=args.chunks or (100 if quick else 400),
            chunks_per_second=rate,
            latencies_ms=args.latencies or (0.0, 30.0),
            repeat=args.repeat or (1 if quick else 3),
        ),
        "concurrency": lambda: concurrency.sweep(
            session_counts=args.sessions or ((10, 50) if quick else (20, 200)),
            chunks_per_session=args.session_chunks or (50 if quick else 100),
            chunks_per_second=rate,
        ),
        "cold_start": lambda: cold_start.run(
            repeat=args.repeat or (3 if quick else 21),
            python=args.cold_start_python,
            against=args.cold_start_against,
            count_instructions=args.cold_start_instructions,
        ),
        "program": lambda: program_eval.run(repeat=args.repeat or (1 if quick else 3)),
    }
    return {name: steps[name] for name in BENCHMARKS if name in args.only}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "cold_start" in args.only:
        # Checked before anything runs, not minutes later when the cold start's turn comes.
        try:
            if args.cold_start_python:
                cold_start.interpreter(args.cold_start_python)
            if args.cold_start_instructions:
                cold_start.valgrind()
        except ValueError as error:
            print(f"scripts/bench: {error}", file=sys.stderr)
            return 2
    # A quick run must not replace the full run's results, which the README quotes.
    output: Path = args.output or RESULTS_DIR / ("quick.json" if args.quick else "latest.json")
    results: dict[str, Any] = {"machine": machine_info(), "settings": {"quick": args.quick}}
    # The route functions log one JSON line per decision on stdout and moto logs every
    # request; both would bury the table.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for name, step in plan(args).items():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        captured = io.StringIO()
        quiet = contextlib.nullcontext() if args.verbose else contextlib.redirect_stdout(captured)
        with quiet:
            results[name] = step()
        results[name]["wall_seconds"] = round(time.monotonic() - started, 1)
    markdown = render(results)
    print(markdown)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown)
    print(f"wrote {output} and {output.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
