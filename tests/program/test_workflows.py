"""The GitHub workflows cannot run here; these tests keep them in step with the stacks and
with the documented inputs of the actions they use."""

from __future__ import annotations

import re
from typing import Any

import yaml

from .harness import ROOT, stack_names

WORKFLOWS = ROOT / ".github" / "workflows"
STACK_WORKFLOW = "./.github/workflows/pulumi-stack.yml"

# pulumi/actions v7.0.0, and the inputs its action.yml declares: bumping the pin means
# checking the step's inputs against the new release (docs/deploy.md).
PULUMI_ACTION = "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d"
PULUMI_ACTION_INPUTS = {
    "command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir",
    "comment-on-pr", "comment-on-pr-number", "comment-on-summary", "github-token",
    "cloud-url", "secrets-provider", "parallel", "message", "config-map",
    "expect-no-changes", "diff", "replace", "exclude", "exclude-dependents", "target",
    "target-dependents", "policyPacks", "policyPackConfigs", "refresh", "upsert", "remove",
    "edit-pr-comment", "color", "exclude-protected", "plan", "suppress-outputs",
    "suppress-progress", "always-include-summary", "continue-on-error", "log-verbosity",
    "log-flow", "debug",
}  # fmt: skip
# A remote action pinned to a commit, with the release it is in a trailing comment.
PINNED_USES = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(?:\.\d+)*$")


def _load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def test_pull_requests_preview_every_stack_and_comment() -> None:
    workflow = _load("preview.yml")
    assert "pull_request" in workflow["on"]
    job = workflow["jobs"]["preview"]
    assert job["permissions"]["pull-requests"] == "write"
    assert job["uses"] == STACK_WORKFLOW
    assert sorted(job["strategy"]["matrix"]["stack"]) == stack_names()
    assert job["with"] == {
        "command": "preview",
        "stack": "${{ matrix.stack }}",
        "environment": "${{ matrix.stack }}-preview",
        "comment-on-pr": True,
    }
    assert job["needs"] == "test"


def test_merges_to_main_update_every_stack_dev_first() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    updates = {
        job["with"]["stack"]: (name, job)
        for name, job in workflow["jobs"].items()
        if job.get("uses") == STACK_WORKFLOW
    }
    assert sorted(updates) == stack_names()
    assert all(job["with"]["command"] == "up" for _, job in updates.values())
    assert updates["prod"][1]["needs"] == updates["dev"][0]
    assert updates["staging"][1]["needs"] == updates["dev"][0]


def test_only_updates_run_in_the_stacks_protected_environment() -> None:
    # A job naming an environment waits for its required reviewers (or fails its branch
    # rules), so previews of pull requests must use other environments than `pulumi up`.
    stack_job = _load("pulumi-stack.yml")["jobs"]["pulumi"]
    inputs = _load("pulumi-stack.yml")["on"]["workflow_call"]["inputs"]
    assert stack_job["environment"] == "${{ inputs.environment || inputs.stack }}"
    assert inputs["environment"]["default"] == ""
    preview = _load("preview.yml")["jobs"]["preview"]["with"]
    assert preview["environment"] != preview["stack"]
    for job in _load("deploy.yml")["jobs"].values():
        if job.get("uses") == STACK_WORKFLOW:
            assert "environment" not in job["with"]  # the stack's own environment


def test_the_stack_workflow_uses_only_documented_pulumi_action_inputs() -> None:
    workflow = _load("pulumi-stack.yml")
    steps = workflow["jobs"]["pulumi"]["steps"]
    (pulumi_step,) = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert pulumi_step["uses"] == PULUMI_ACTION
    assert set(pulumi_step["with"]) <= PULUMI_ACTION_INPUTS
    assert pulumi_step["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    # The policy pack it names is the one in the repository.
    assert pulumi_step["with"]["policyPacks"] == "policy"
    assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()


def test_every_workflow_runs_the_readme_test_command_first() -> None:
    for name in ("preview.yml", "deploy.yml"):
        steps = _load(name)["jobs"]["test"]["steps"]
        assert any(step.get("run") == "bash .ci/run" for step in steps), name


def test_every_remote_action_is_pinned_to_a_commit_with_its_release_beside_it() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            if re.match(r"^\s*(?:- )?uses: ", line) and "uses: ./" not in line:
                assert PINNED_USES.match(line), f"{path.name}: {line.strip()}"


def test_jobs_hold_their_own_permissions_and_are_passed_secrets_by_name() -> None:
    # The workflows start from no permissions; only the Pulumi jobs may federate to AWS.
    for name in ("preview.yml", "deploy.yml"):
        workflow = _load(name)
        assert workflow["permissions"] == {}, name
        for job_name, job in workflow["jobs"].items():
            federates = job["permissions"].get("id-token") == "write"
            assert federates == (job.get("uses") == STACK_WORKFLOW), (name, job_name)
            if job.get("uses") == STACK_WORKFLOW:
                assert job["secrets"] == {
                    "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"
                }, (name, job_name)
