"""Stages run models for inference only through the engine; the engine package has no import cycle."""

import ast
import subprocess
import sys
from pathlib import Path

SRLM = Path(__file__).resolve().parent.parent / "srlm"
TRAINING = ("sft.py", "dpo.py")
FORBIDDEN_CALLS = ("load_model", "from_pretrained", "generate", "LLM")


def calls_in(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def test_no_inference_stage_loads_or_runs_a_model_by_itself():
    for path in sorted((SRLM / "stages").glob("*.py")):
        if path.name in TRAINING:
            continue
        found = calls_in(path) & set(FORBIDDEN_CALLS)
        assert not found, f"{path.name} calls {sorted(found)}; go through srlm.engine.open_engine"


def test_engine_modules_import_alone_in_any_order():
    for module in ("srlm.engine.vllm", "srlm.engine.hf", "srlm.models", "srlm.embedded", "srlm.tiny_model"):
        out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        assert out.returncode == 0, (module, out.stderr[-1500:])
