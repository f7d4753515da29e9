"""The program tests run the stack program under mocks with `program_mocks.runner`, which
the program benchmark times too; these are the names the tests use from it."""

from program_mocks.runner import (
    ACCOUNT_ID,
    DEFAULT_REGION,
    PROGRAM,
    PROJECT_FILE,
    ROOT,
    RUN_TIMEOUT_SECONDS,
    AwsAnswers,
    ResourceRecord,
    StackProgramError,
    StackRecord,
    _jsonable,
    config_string,
    isolated_environment,
    project_config_defaults,
    record_stack,
    run_program,
    stack_config,
    stack_names,
)

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_REGION",
    "PROGRAM",
    "PROJECT_FILE",
    "ROOT",
    "RUN_TIMEOUT_SECONDS",
    "AwsAnswers",
    "ResourceRecord",
    "StackProgramError",
    "StackRecord",
    "_jsonable",
    "config_string",
    "isolated_environment",
    "project_config_defaults",
    "record_stack",
    "run_program",
    "stack_config",
    "stack_names",
]
