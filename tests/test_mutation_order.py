"""A mutant's tests run likely killers first: those that failed on a mutant of the same
line, then on any mutant of the module, then the rest, each group fastest first. The
failing test is read from pytest's own summary."""

from __future__ import annotations

from mutation.order import Killers, failed_test

DURATIONS = {"t::slow": 9.0, "t::mid": 3.0, "t::fast": 0.5, "t::other": 1.0}


def test_a_mutants_tests_run_killers_of_its_line_then_of_the_module_then_fastest_first():
    killers = Killers()
    tests = set(DURATIONS)
    assert killers.order(tests, range(4, 5), DURATIONS) == [
        "t::fast",
        "t::other",
        "t::mid",
        "t::slow",
    ]

    killers.record(10, "t::mid")
    killers.record(4, "t::slow")

    assert killers.order(tests, range(4, 5), DURATIONS) == [
        "t::slow",
        "t::mid",
        "t::fast",
        "t::other",
    ]
    # A mutant spanning lines 9-10 meets line 10's killer first.
    assert killers.order(tests, range(9, 11), DURATIONS)[:2] == ["t::mid", "t::slow"]
    # Only the mutant's own tests, whatever killed others.
    assert killers.order({"t::fast", "t::other"}, range(4, 5), DURATIONS) == [
        "t::fast",
        "t::other",
    ]


def test_the_failed_test_is_the_one_pytests_summary_names():
    tests = ["tests/a.py::test_x[1]", "tests/a.py::test_x[1-2]", "tests/a.py::test_y"]
    output = "\n".join(
        [
            "..F",
            "=========================== short test summary info ============================",
            "FAILED tests/a.py::test_x[1-2] - AssertionError: assert 1 == 2",
            "!!!!!!!!!!!!!!!!!!!!!!!!!! stopping after 1 failures !!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ]
    )
    assert failed_test(output, tests) == "tests/a.py::test_x[1-2]"
    assert failed_test("ERROR tests/a.py::test_y - fixture 'x' not found", tests) == (
        "tests/a.py::test_y"
    )
    assert failed_test("FAILED tests/a.py::test_z - not one of them", tests) is None
    assert failed_test("3 passed in 0.1s", tests) is None
