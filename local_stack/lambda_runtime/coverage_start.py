"""Runs inside a Python function's process, ahead of the runtime interface client, when
the local stack itself runs under coverage.py: measures the function's code too.

The sandbox starts it (`python -S -m lexstream_coverage_start module.handler`) only when
coverage.py's `COVERAGE_PROCESS_START` names a configuration in the stack's environment
(`sandbox.measuring()`); otherwise nothing of it runs. A function process ignores `site`
and is usually killed rather than left to exit, so coverage's own subprocess start-up
(a `.pth` file) and its save at exit never happen there. Instead this module:

- starts coverage with that configuration before the runtime imports the handler;
- before the runtime posts an invocation's result, its error or an init error, saves
  what was measured so far: by the time the invoker has the result, the data is on disk,
  whenever the process is killed after;
- when `LEXSTREAM_COVERAGE_CONTEXT` names a file, takes each invocation's coverage
  context from it (read when the invocation arrives), so a warm instance reused by a
  later test records that test, not the one it was started for;
- removes its own variables and folder from the environment before the runtime starts,
  so the function sees the environment it would see without it.

It imports nothing of this project: the function process cannot.
"""

from __future__ import annotations

import os
import runpy
import sys

CONFIG_VARIABLE = "COVERAGE_PROCESS_START"
CONTEXT_VARIABLE = "LEXSTREAM_COVERAGE_CONTEXT"
FOLDER_VARIABLE = "LEXSTREAM_COVERAGE_FOLDER"


def main() -> None:
    config = os.environ.pop(CONFIG_VARIABLE)
    context_file = os.environ.pop(CONTEXT_VARIABLE, "")
    folder = os.environ.pop(FOLDER_VARIABLE, "")
    # Coverage stays importable (it imports parts of itself as it saves), after
    # everything the function would find without it.
    if folder in sys.path:
        sys.path.remove(folder)
        sys.path.append(folder)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != folder]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)

    import coverage
    from awslambdaric.lambda_runtime_client import LambdaRuntimeClient

    measured = coverage.Coverage(config_file=config)
    had_config = "COVERAGE_PROCESS_CONFIG" in os.environ
    measured.start()
    if not had_config:
        # Set by coverage's `patch = subprocess` for processes this one would start.
        os.environ.pop("COVERAGE_PROCESS_CONFIG", None)

    def current_context() -> str:
        try:
            with open(context_file, encoding="utf-8") as named:
                return named.read().strip()
        except OSError:
            return ""

    def saving_first(post):  # type: ignore[no-untyped-def]
        def post_after_saving(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            measured.save()
            return post(self, *args, **kwargs)

        return post_after_saving

    def switching_context(wait):  # type: ignore[no-untyped-def]
        def wait_then_switch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            invocation = wait(self, *args, **kwargs)
            if context_file:
                measured.switch_context(current_context())
            return invocation

        return wait_then_switch

    for name in ("post_invocation_result", "post_invocation_error", "post_init_error"):
        setattr(LambdaRuntimeClient, name, saving_first(getattr(LambdaRuntimeClient, name)))
    LambdaRuntimeClient.wait_next_invocation = switching_context(
        LambdaRuntimeClient.wait_next_invocation
    )
    if context_file:
        measured.switch_context(current_context())
    sys.argv = ["awslambdaric", *sys.argv[1:]]
    runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
