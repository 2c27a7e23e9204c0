"""The package's layout is its architecture (docs/ARCHITECTURE.md): folders in layers that import only downwards,
no stage importing another, no import cycle, and stages that run models for inference only through an engine."""

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRLM = Path(__file__).resolve().parent.parent / "srlm"
# each folder may import from folders of a lower rank only (docs/ARCHITECTURE.md draws them)
RANK = {
    "core": 0,
    "config": 1,
    "models": 2,
    "data": 3,
    "inference": 4,
    "rewarding": 5,
    "evaluation": 6,
    "reporting": 7,
    "training": 8,
    "stages": 9,
    "pipeline": 10,
    "cli": 11,
}
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
        assert not found, f"{path.name} calls {sorted(found)}; go through srlm.inference.engines.open_engine"


@pytest.mark.slow
def test_engine_modules_import_alone_in_any_order():
    engines = ("srlm.inference.engines.vllm", "srlm.inference.engines.hf")
    for module in (*engines, "srlm.models.resolve", "srlm.models.embedded", "srlm.models.tiny"):
        out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        assert out.returncode == 0, (module, out.stderr[-1500:])


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRLM.parent).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """The srlm modules `path` imports (`from srlm.x import y` names srlm.x.y when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("srlm"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (SRLM.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                found.add(sub if is_module or (SRLM.parent / sub.replace(".", "/")).is_dir() else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("srlm")}
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(root.rglob("*.py"))}


def folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        for target in imported:
            src, dst = folder(module), folder(target)
            if src and dst and src != dst and RANK[dst] > RANK[src]:
                wrong.append(f"{module} ({src}) imports {target} ({dst})")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among srlm's modules (a package's __init__ counts as the package)."""
    found, state, stack = [], defaultdict(int), []

    def visit(m):
        state[m], stack[len(stack) :] = 1, [m]
        for n in sorted(graph.get(m, ())):
            if state[n] == 1:
                found.append(stack[stack.index(n) :] + [n])
            elif state[n] == 0 and n in graph:
                visit(n)
        state[m] = 2
        stack.pop()

    for m in graph:
        if state[m] == 0:
            visit(m)
    return found


def test_every_folder_has_a_rank_and_no_module_sits_at_the_top_but_the_entry_point():
    folders = {p.name for p in SRLM.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(RANK)
    assert sorted(p.name for p in SRLM.glob("*.py")) == ["__init__.py", "__main__.py"]


def test_folders_import_only_from_lower_layers():
    assert upward_imports(import_graph(SRLM)) == []


def test_no_stage_imports_another_stage():
    stages = {module_name(p) for p in (SRLM / "stages").glob("*.py")} - {"srlm.stages"}
    graph = import_graph(SRLM / "stages")
    assert {m: sorted(graph[m] & stages) for m in stages if graph[m] & stages} == {}


def test_no_import_cycle():
    assert cycles(import_graph(SRLM)) == []


@pytest.mark.parametrize(
    "wrong",
    [
        ("srlm/models/precision.py", "from srlm.inference.engines import open_engine\n", "upward"),
        ("srlm/core/errors.py", "from srlm.core.io import read_jsonl\n", "cycle"),
    ],
)
def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path, wrong):
    """The same checks on a copy of the package with one bad import added."""
    import shutil

    copy = tmp_path / "srlm"
    shutil.copytree(SRLM, copy)
    rel, line, kind = wrong
    target = copy / rel.removeprefix("srlm/")
    target.write_text(line + target.read_text())
    graph = import_graph_at(copy)
    if kind == "upward":
        assert any("srlm.models.precision (models) imports" in w for w in upward_imports(graph))
    else:
        assert any("srlm.core.errors" in c and "srlm.core.io" in c for c in cycles(graph))


def import_graph_at(root: Path) -> dict[str, set[str]]:
    """`import_graph` for a copy of the package at `root` (module names as if it were srlm)."""
    graph = {}
    for p in sorted(root.rglob("*.py")):
        name = ".".join(("srlm", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        graph[name] = imports_of(p)
    return graph
