"""Render benchmark results (the JSON the run writes) as Markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .machine import machine_line


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _mark(met: bool | None) -> str:
    if met is None:
        return "n/a"
    return "yes" if met else "**NO**"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def _heading(title: str, intro: str) -> list[str]:
    return [f"### {title}", "", intro, ""]


def _relay(section: dict[str, Any]) -> list[str]:
    lines = _heading(
        "Streaming relay",
        f"{section['chunks']} chunks at {section['chunks_per_second']:g} chunks/s, "
        f"median of {section['repeat']} run(s) per cell.",
    )
    rows = []
    for scenario in section["scenarios"]:
        for approach in _approaches(scenario):
            result = scenario[approach]
            rows.append(
                (
                    f"{scenario['callback_latency_ms']:g} ms",
                    approach,
                    _ms(result.get("first_text_after_model_ms")),
                    f"{result.get('completion_over_model', float('nan')):.3f}",
                    result["messages"],
                    result["billed_units"],
                    _ms(result.get("largest_gap_ms")),
                    _mark(result["delivered_equals_generated"]),
                    f"{result['cpu_ms_per_1000_chunks']:,.0f} ms",
                )
            )
    lines += _table(
        (
            "callback latency",
            "approach",
            "first text after model's first chunk",
            "completion / model time",
            "messages",
            "billed 32 KB units",
            "largest gap while producing",
            "delivered == generated",
            "CPU per 1,000 chunks",
        ),
        rows,
    )
    floors = ", ".join(
        f"{s['one_post_visible_ms']:.1f} ms at {s['callback_latency_ms']:g} ms"
        for s in section["scenarios"]
    )
    lines += ["", f"A single bare post becomes visible to the client after {floors}.", ""]
    for key, name in (("targets", "lexstream"), ("node_targets", "lexstream_node")):
        if key not in section["scenarios"][0]:  # results from before the Node.js helper
            continue
        targets = section["scenarios"][0][key]
        lines += [f"{name} against its targets:", ""]
        header = ["target", *(f"{s['callback_latency_ms']:g} ms" for s in section["scenarios"])]
        rows = [
            (target["description"], *(_mark(s[key][goal]["met"]) for s in section["scenarios"]))
            for goal, target in targets.items()
        ]
        lines += [*_table(header, rows), ""]
    return [*lines, *_answer_cost(section)]


# The relay's approaches, in the order the tables list them.
APPROACHES = ("reference", "lexstream", "lexstream_node")


def _approaches(scenario: dict[str, Any]) -> list[str]:
    """The approaches a scenario has results for (older results lack the Node.js one)."""
    return [approach for approach in APPROACHES if approach in scenario]


def _usd(value: float) -> str:
    return f"${value:,.6f}"


def _price(value: float) -> str:
    """A list price as written: cents always, further digits only where it has them."""
    whole, _, fraction = f"{value:.10f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _answer_cost(section: dict[str, Any]) -> list[str]:
    lines = [
        "US dollars per 1,000 streamed answers, from the counts each approach used in this "
        "run (per answer in brackets) at the prices below:",
        "",
    ]
    rows = []
    for scenario in section["scenarios"]:
        for approach in _approaches(scenario):
            result = scenario[approach]
            usd = result["usd_per_1000_answers"]
            gb_seconds = result["billed_duration_ms"] / 1000 * result["memory_mb"] / 1024
            rows.append(
                (
                    f"{scenario['callback_latency_ms']:g} ms",
                    approach,
                    f"{_usd(usd['messages'])} ({result['message_units']:g} units)",
                    f"{_usd(usd['connection_minutes'])} "
                    f"({result['connection_seconds'] / 60:.3f} min)",
                    f"{_usd(usd['lambda_duration'])} ({result['billed_duration_ms']:,.0f} ms "
                    f"at {result['memory_mb']:g} MB = {gb_seconds:.3f} GB-s)",
                    f"{_usd(usd['lambda_requests'])} ({result['lambda_requests']:g})",
                    f"{_usd(usd['dynamodb_reads'] + usd['dynamodb_writes'])} "
                    f"({result['read_units']:g} RRU, {result['write_units']:g} WRU)",
                    f"**{_usd(usd['total'])}**",
                )
            )
    lines += _table(
        (
            "callback latency",
            "approach",
            "messages (32 KB units)",
            "connection minutes",
            "fulfillment duration",
            "Lambda requests",
            "DynamoDB",
            "total per 1,000 answers",
        ),
        rows,
    )
    lines += ["", "Prices (list prices, first tier, no free tier; `benchmarks/cost.py`):", ""]
    rows = [
        (
            price["unit"],
            _price(price["usd"]),
            f"{price['per']:,}",
            price["region"],
            price["read_on"],
        )
        for price in section["prices"]
    ]
    lines += _table(("price of", "US dollars", "per", "region", "read on"), rows)
    return lines


def _instances(level: dict[str, Any]) -> str:
    return f"{level['fulfillment_instances_started']} (limit {level['fulfillment_max_instances']})"


def _concurrency(section: dict[str, Any]) -> list[str]:
    lines = _heading(
        "Concurrency",
        f"Sessions streaming at once, {section['chunks_per_session']} chunks each at "
        f"{section['chunks_per_second']:g} chunks/s, callback latency "
        f"{section['callback_latency_ms']:g} ms. The whole local stack (model, gateway, "
        "clients) shares one Python process and each function instance is a process of "
        "its own; CPU counts the stack's process only. This is its capacity, not AWS's.",
    )
    header = (
        "sessions",
        "chunks",
        "p50 delivery delay",
        "p99 delivery delay",
        "lost",
        "misordered",
        "messages",
        "chunks/s over the phase",
        "streaming phase / one turn's model time",
        "CPU per 1,000 chunks",
        "fulfillment instances started",
    )
    rows = [
        (
            level["sessions"],
            level["chunks"],
            _ms(level["p50_delivery_delay_ms"]),
            _ms(level["p99_delivery_delay_ms"]),
            level["lost_chunks"],
            level["misordered_chunks"],
            level["messages"],
            f"{level['chunks'] / level['streaming_phase_seconds']:,.0f}",
            f"{level['streaming_phase_seconds']:.1f} s / {level['model_seconds_per_turn']:.1f} s",
            f"{level['cpu_seconds_per_1000_chunks']:.3f} s",
            _instances(level),
        )
        for level in section["levels"]
    ]
    lines += _table(header, rows)
    lines += [
        "",
        "Init Duration of each function's cold starts in the same runs, from the REPORT "
        "lines the local runtime writes (process spawn to the runtime's first request for "
        "an event):",
        "",
    ]
    init_header = ("sessions", "function", "cold starts", "median Init Duration", "max")
    init_rows = [
        (level["sessions"], name, init["cold_starts"], _ms(init["median"]), _ms(init["max"]))
        for level in section["levels"]
        for name, init in level["init_duration_ms"].items()
    ]
    return lines + _table(init_header, init_rows)


def _cold_start(section: dict[str, Any]) -> list[str]:
    python = section["python"]
    runtime = section["lambda_runtime"]
    on = (
        f"the functions' runtime, {runtime}"
        if section["runtime_version_matched"]
        else f"not the functions' runtime ({runtime}), which was not found"
    )
    lines = _heading(
        "Cold start",
        f"Module init in a fresh interpreter, median of {section['repeat']}, on Python "
        f"{python['version']} ({on}) with boto3 {python['boto3']}; each round starts every "
        f"import at one random stack depth. Bare `import boto3`: "
        f"{_ms(section['baseline_ms'])} (with one client: "
        f"{_ms(section['baseline_with_client_ms'])}).",
    )
    rows = [
        (
            f"`{entry['function']}`",
            f"{entry['archive_bytes'] / 1024:.1f} KB",
            _mark(entry["archive_target_met"]),
            _ms(entry["init_ms"]),
            f"{entry['over_baseline_ms']:+.1f} ms",
            _mark(entry["init_target_met"]),
            f"{entry['over_baseline_with_client_ms']:+.1f} ms",
        )
        for entry in section["functions"]
    ]
    for key, label in (("layer", "helper layer"), ("node_layer", "Node.js helper layer")):
        if key in section:  # results written before the Node.js layer existed lack it
            size = f"{section[key]['archive_bytes'] / 1024:.1f} KB"
            rows.append((label, size, "", "", "", "", ""))
    targets = section["targets"]
    header = (
        "function",
        "archive (zip)",
        f"< {targets['archive_bytes_below'] / 1024:g} KB",
        "init",
        "over `import boto3`",
        f"within {targets['init_over_baseline_ms_at_most']:g} ms",
        "over boto3 + one client",
    )
    lines += _table(header, rows)
    lines += [
        "",
        f"CPU time of the same inits (what the init itself did, whatever else the machine "
        f"ran): bare `import boto3` {_ms(section['baseline_cpu_ms'])}; "
        + ", ".join(
            f"`{entry['function']}` {entry['cpu_over_baseline_ms']:+.1f} ms"
            for entry in section["functions"]
        )
        + (
            f"; bare `import boto3` with the collector paused "
            f"{section['baseline_paused_cpu_ms'] - section['baseline_cpu_ms']:+.1f} ms"
            if "baseline_paused_cpu_ms" in section
            else ""
        )
        + ".",
        "",
        "Where a function's init goes: one DynamoDB client, from a fresh interpreter.",
        "",
    ]
    with_client = section["baseline_with_client_ms"]
    client_rows = [
        (label, _ms(ms), f"{ms / with_client:.2f}")
        for label, ms in (
            ('`import boto3` + `boto3.client("dynamodb")`', with_client),
            ("lexstream: lean botocore session + `dynamodb_client()`", section["lean_client_ms"]),
            ("bare `import boto3` (the baseline)", section["baseline_ms"]),
        )
    ]
    if "baseline_paused_ms" in section:  # results written before the functions paused it
        client_rows.append(
            (
                "bare `import boto3`, the cycle collector paused as in the functions' init",
                _ms(section["baseline_paused_ms"]),
                f"{section['baseline_paused_ms'] / with_client:.2f}",
            )
        )
    lines += _table(("client path", "time", "/ boto3 + one client"), client_rows)
    against = section.get("against")
    if against:
        now = {entry["function"]: entry for entry in section["functions"]}
        lines += [
            "",
            f"Before and after, in the same rounds: the functions of `{against['revision']}` "
            "against this tree's.",
            "",
        ]
        rows = [
            (
                f"`{entry['function']}`",
                f"{entry['over_baseline_ms']:+.1f} ms",
                f"{now[entry['function']]['over_baseline_ms']:+.1f} ms",
                f"{entry['cpu_over_baseline_ms']:+.1f} ms",
                f"{now[entry['function']]['cpu_over_baseline_ms']:+.1f} ms",
            )
            for entry in against["functions"]
            if entry["function"] in now
        ]
        revision = against["revision"]
        lines += _table(
            (
                "function",
                f"wall over `import boto3`, {revision}",
                "wall, now",
                f"CPU over `import boto3`, {revision}",
                "CPU, now",
            ),
            rows,
        )
    return lines + _instructions(section)


def _instructions(section: dict[str, Any]) -> list[str]:
    counted = section.get("instructions")
    if not counted:
        return []
    revision = (section.get("against") or {}).get("revision")
    lines = [
        "",
        f"Instructions of the same inits, counted once each with valgrind (string hashing "
        f"fixed), which other work on the machine does not change: bare `import boto3` "
        f"{counted['baseline'] / 1e6:.1f} M.",
        "",
    ]
    header = ["function", "over `import boto3`", "/ `import boto3`"]
    if revision:
        header += [f"over `import boto3`, {revision}", "change"]
    rows = []
    for entry in counted["functions"]:
        over = entry["over_baseline"]
        row = [
            f"`{entry['function']}`",
            f"{over / 1e6:+.1f} M",
            f"{(counted['baseline'] + over) / counted['baseline']:.3f}",
        ]
        before = entry["over_baseline_against"]
        if revision and before is not None:
            row += [f"{before / 1e6:+.1f} M", f"{(over - before) / 1e6:+.1f} M"]
        elif revision:
            row += ["", ""]
        rows.append(row)
    return lines + _table(header, rows)


def _program(section: dict[str, Any]) -> list[str]:
    lines = _heading(
        "Program evaluation",
        f"The stack program under mocks in a fresh interpreter, median of "
        f"{section['repeat']}; the baseline imports only the pulumi_aws submodules the "
        "program uses.",
    )
    rows = [
        (
            entry["label"],
            f"{entry['seconds']:.2f} s",
            f"{entry['peak_rss_mb']:.0f} MB",
            f"{entry['resources']}" if entry.get("resources") is not None else "",
        )
        for entry in [section["baseline"], *section["stacks"]]
    ]
    lines += _table(("run", "time", "peak memory (RSS)", "resources"), rows)
    return lines


SECTIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "relay": _relay,
    "concurrency": _concurrency,
    "cold_start": _cold_start,
    "program": _program,
}


def render(results: dict[str, Any]) -> str:
    """The whole report: machine line, then one table per benchmark that ran."""
    lines = [f"Machine: {machine_line(results['machine'])}", ""]
    for name, render_section in SECTIONS.items():
        if name in results:
            lines += [*render_section(results[name]), ""]
    return "\n".join(lines)
