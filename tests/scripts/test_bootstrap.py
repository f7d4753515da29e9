"""scripts/bootstrap.sh on a machine where an earlier run already installed uv."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_ensure_uv(tmp_path: Path, then: str, pip_exit: int) -> subprocess.CompletedProcess[str]:
    """Source bootstrap.sh and run `ensure_uv; {then}` with a python3 on PATH that reports
    `tmp_path/user-base` as its user base and records (then exits `pip_exit` for) anything
    else it is asked, in `tmp_path/calls`."""
    path_bin = tmp_path / "path-bin"
    path_bin.mkdir()
    python3 = path_bin / "python3"
    python3.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "-m site" ]; then echo "$USER_BASE"; exit 0; fi\n'
        f'echo "python3 $*" >> "$CALLS"; exit {pip_exit}\n'
    )
    python3.chmod(0o755)
    script = f"source {ROOT / 'scripts' / 'bootstrap.sh'}; ensure_uv; {then}"
    return subprocess.run(
        ["/bin/bash", "-c", script],
        env={
            "PATH": f"{path_bin}:/usr/bin:/bin",
            "USER_BASE": str(tmp_path / "user-base"),
            "CALLS": str(tmp_path / "calls"),
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_uv_in_the_user_base_is_used_instead_of_installed_again(tmp_path: Path) -> None:
    # Where `pip install --user` put uv on an earlier run; not on PATH.
    user_bin = tmp_path / "user-base" / "bin"
    user_bin.mkdir(parents=True)
    uv = user_bin / "uv"
    uv.write_text("#!/bin/sh\necho stub-uv\n")
    uv.chmod(0o755)
    # pip refuses to run, so an attempt to install uv would fail the script.
    result = run_ensure_uv(tmp_path, "command -v uv; uv", pip_exit=1)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(uv), "stub-uv"]
    assert "installing uv" not in result.stderr
    calls = tmp_path / "calls"
    assert not calls.exists(), calls.read_text()


def test_uv_is_installed_with_pip_when_no_copy_exists(tmp_path: Path) -> None:
    result = run_ensure_uv(tmp_path, "true", pip_exit=0)
    assert result.returncode == 0, result.stderr
    assert "installing uv" in result.stderr
    calls = (tmp_path / "calls").read_text()
    assert calls.startswith("python3 -m pip install --quiet --user uv>=0.5")
