"""The benchmark command, run end to end on a tiny scenario.

Only the shape of the output and correctness are asserted (every chunk delivered, in
order, the baseline posting once per chunk); never a time, because times depend on the
machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import __main__ as bench
from benchmarks import cold_start, cost
from functions import layout

TINY = [
    "--chunks", "12",
    "--rate", "200",
    "--latencies", "0,5",
    "--sessions", "3,2",
    "--session-chunks", "8",
    "--repeat", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    assert bench.main([*TINY, "--output", str(output)]) == 0
    return json.loads(output.read_text()), output.with_suffix(".md").read_text()


def test_results_name_the_machine_they_ran_on(tiny_run: tuple[dict[str, Any], str]) -> None:
    results, markdown = tiny_run
    machine = results["machine"]
    assert machine["cores"] >= 1
    assert machine["python"].count(".") == 2
    assert machine["cpu"]
    assert markdown.startswith(f"Machine: {machine['cpu']}, {machine['cores']} cores")


def test_every_relay_approach_delivers_exactly_the_generated_text(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    relay = tiny_run[0]["relay"]
    assert [s["callback_latency_ms"] for s in relay["scenarios"]] == [0.0, 5.0]
    for scenario in relay["scenarios"]:
        for approach in ("reference", "lexstream", "lexstream_node"):
            result = scenario[approach]
            assert result["delivered_equals_generated"] is True, (approach, result)
            assert result["final_message_equals_generated"] is True, (approach, result)
            assert (result["lost_chunks"], result["misordered_chunks"]) == (0, 0)
        assert scenario["targets"]["zero_loss"]["met"] is True
        assert scenario["node_targets"]["zero_loss"]["met"] is True
        assert (
            set(scenario["targets"])
            == set(scenario["node_targets"])
            == {
                "completion",
                "messages",
                "first_text",
                "gap",
                "zero_loss",
            }
        )


def test_the_reference_posts_one_billed_message_per_chunk_and_both_helpers_coalesce(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    for scenario in tiny_run[0]["relay"]["scenarios"]:
        reference = scenario["reference"]
        assert reference["messages"] == reference["billed_units"] == 12
        for helper in ("lexstream", "lexstream_node"):
            result = scenario[helper]
            assert 1 <= result["messages"] <= reference["messages"], helper
            assert result["frames"] == result["messages"], helper


def test_each_answer_counts_what_it_used_in_the_same_run(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    for scenario in tiny_run[0]["relay"]["scenarios"]:
        for approach in ("reference", "lexstream", "lexstream_node"):
            result = scenario[approach]
            # The client's messages, in 32 KB units, are what the gateway billed.
            assert result["message_units"] == result["billed_units"], approach
            assert result["lambda_requests"] == 1
            assert result["memory_mb"] == 256
            assert result["billed_duration_ms"] == int(result["billed_duration_ms"]) > 0
            assert result["connection_seconds"] > 0
            # One connection lookup, and no writes, per answer.
            assert (result["dynamodb_requests"], result["write_units"]) == (1, 0)
        # The reference reads eventually consistent; both helpers read the row consistently.
        assert scenario["reference"]["read_units"] == 0.5
        assert scenario["lexstream"]["read_units"] == scenario["lexstream_node"]["read_units"] == 1


def test_the_cost_table_follows_from_the_counts_and_the_named_prices(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    relay = tiny_run[0]["relay"]
    assert relay["prices"] == cost.price_list()
    for scenario in relay["scenarios"]:
        for approach in ("reference", "lexstream", "lexstream_node"):
            result = scenario[approach]
            dollars = result["usd_per_1000_answers"]
            gb_seconds = result["billed_duration_ms"] / 1000 * result["memory_mb"] / 1024
            expected = {
                "messages": result["message_units"] * 1000 * cost.WEBSOCKET_MESSAGE.usd / 1e6,
                "connection_minutes": result["connection_seconds"]
                / 60
                * 1000
                * cost.CONNECTION_MINUTE.usd
                / 1e6,
                "lambda_duration": gb_seconds * 1000 * cost.LAMBDA_GB_SECOND.usd,
                "lambda_requests": 1000 * cost.LAMBDA_REQUEST.usd / 1e6,
                "dynamodb_reads": result["read_units"] * 1000 * cost.DYNAMODB_READ_UNIT.usd / 1e6,
                "dynamodb_writes": result["write_units"]
                * 1000
                * cost.DYNAMODB_WRITE_UNIT.usd
                / 1e6,
            }
            expected["total"] = sum(expected.values())
            assert dollars == pytest.approx(expected), approach
        # Per chunk, the reference pays a message where lexstream coalesces.
        reference, lexstream = scenario["reference"], scenario["lexstream"]
        assert (
            lexstream["usd_per_1000_answers"]["messages"]
            < reference["usd_per_1000_answers"]["messages"]
        )
    markdown = tiny_run[1]
    assert "US dollars per 1,000 streamed answers" in markdown
    assert "| 5 ms | reference | $0.012000 (12 units) |" in markdown
    assert "| WebSocket connection minutes | $0.25 | 1,000,000 | us-east-1 | 2026-12-01 |" in (
        markdown
    )


def test_concurrent_sessions_lose_and_reorder_nothing(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    levels = tiny_run[0]["concurrency"]["levels"]
    assert [level["sessions"] for level in levels] == [2, 3]
    for level in levels:
        assert level["chunks"] == level["delivered_chunks"] == level["sessions"] * 8
        assert level["lost_chunks"] == level["misordered_chunks"] == 0
        assert level["sessions_with_wrong_text"] == level["final_messages_wrong"] == 0
        assert level["all_text_arrived"] is True
        assert level["p50_delivery_delay_ms"] <= level["p99_delivery_delay_ms"]
        assert level["cpu_seconds_per_1000_chunks"] > 0


def test_concurrent_sessions_run_on_one_fulfillment_instance_each_with_their_init_durations(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    for level in tiny_run[0]["concurrency"]["levels"]:
        # A fresh stack per level; its instances were provisioned one per session.
        assert level["fulfillment_instances_started"] == level["sessions"]
        init = level["init_duration_ms"]
        # One REPORT line with an Init Duration per instance that served a first turn
        # (an instance that finishes early may serve a second one).
        for function in ("bench-helper_fulfillment", "connect"):
            assert 1 <= init[function]["cold_starts"] <= level["sessions"]
        assert all(0 < entry["median"] <= entry["max"] for entry in init.values())


def test_cold_start_covers_every_shipped_function_with_its_real_archive(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    cold = tiny_run[0]["cold_start"]
    assert [f["function"] for f in cold["functions"]] == list(layout.FUNCTION_NAMES)
    for entry in cold["functions"]:
        shipped = layout.function_files(entry["function"])
        assert entry["unzipped_bytes"] == sum(path.stat().st_size for path in shipped.values())
        assert 0 < entry["archive_bytes"] < entry["unzipped_bytes"]
        assert entry["init_ms"] > 0
        assert isinstance(entry["init_target_met"], bool)
    assert cold["baseline_ms"] > 0
    # Both client paths really built a client in their fresh interpreters.
    assert cold["baseline_with_client_ms"] > 0 and cold["lean_client_ms"] > 0
    assert cold["lean_client_ratio"] == pytest.approx(
        cold["lean_client_ms"] / cold["baseline_with_client_ms"], rel=0.01
    )
    assert "lean botocore session" in tiny_run[1]
    # The bare import with the collector paused as the functions pause it, for reference.
    assert cold["baseline_paused_ms"] > 0 and cold["baseline_paused_cpu_ms"] > 0
    assert "the cycle collector paused as in the functions' init" in tiny_run[1]
    # One random start depth per round, shared by every import of the round.
    assert len(cold["stack_depths"]) == cold["repeat"] == 1
    assert all(0 <= depth < cold_start.STACK_SPREAD_FRAMES for depth in cold["stack_depths"])
    # Measured on this interpreter (no --cold-start-python), and the report says which.
    assert cold["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert cold["lambda_runtime"] == layout.LAMBDA_RUNTIME
    matched = f"python{sys.version_info[0]}.{sys.version_info[1]}" == layout.LAMBDA_RUNTIME
    assert cold["runtime_version_matched"] is matched
    assert f"on Python {cold['python']['version']}" in tiny_run[1]


def test_program_evaluation_runs_every_stack_file(tiny_run: tuple[dict[str, Any], str]) -> None:
    program = tiny_run[0]["program"]
    stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in Path().glob("Pulumi.*.yaml"))
    assert [entry["stack"] for entry in program["stacks"]] == stacks
    assert all(entry["resources"] > 0 for entry in program["stacks"])
    assert "dynamodb.Table" in program["aws_names"]
    assert program["baseline"]["peak_rss_mb"] > 0


def test_markdown_has_one_table_per_benchmark(tiny_run: tuple[dict[str, Any], str]) -> None:
    markdown = tiny_run[1]
    for heading in ("Streaming relay", "Concurrency", "Cold start", "Program evaluation"):
        assert f"### {heading}" in markdown
    assert "| 5 ms | lexstream |" in markdown


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "relay,speed"], "expected a comma-separated subset of relay"),
        (["--latencies", "30,-1"], "milliseconds >= 0"),
        (["--sessions", "20,0"], "whole numbers >= 1"),
        (["--chunks", "0"], "whole number >= 1"),
    ],
)
def test_bad_arguments_name_what_would_be_valid(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


def test_every_table_row_has_as_many_cells_as_its_header(
    tiny_run: tuple[dict[str, Any], str],
) -> None:
    header_cells = None
    for line in tiny_run[1].splitlines():
        if not line.startswith("|"):
            header_cells = None
            continue
        cells = line.count("|") - 1
        if header_cells is None:
            header_cells = cells
        assert cells == header_cells, line


def test_a_cold_start_interpreter_that_cannot_run_stops_the_run_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.json"
    missing = tmp_path / "no-such-python"
    argv = ["--only", "relay,cold_start", "--cold-start-python", str(missing)]
    assert bench.main([*argv, "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert f"cold start interpreter '{missing}' cannot run" in err
    assert "running relay" not in err
    assert not output.exists()
