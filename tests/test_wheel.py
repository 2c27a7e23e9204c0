"""A regular (non-editable) wheel ships conf/, recipes, data/seed/ and the templates, and runs outside the checkout.

The wheel is built from a copy of the checkout (so no build/ folder lands in it), installed with
`pip install --no-deps --target`, and run with PYTHONPATH pointing there from a folder outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "srlm", "conf", "recipes", "data")
SHIPPED = "srlm/_root"  # where the wheel keeps them (srlm/core/resources.py)

pytestmark = pytest.mark.slow


def checkout_recipes() -> list[str]:
    return sorted(p.relative_to(REPO / "recipes").with_suffix("").as_posix() for p in REPO.glob("recipes/**/*.yaml"))


def pip(*args: str, cwd: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> tuple[Path, Path]:
    """(the built wheel, the folder it is installed into)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_root")
            shutil.copytree(REPO / name, src / name, symlinks=True, ignore=ignore)
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(src), cwd=tmp)
    (wheel,) = (tmp / "dist").glob("srlm-*.whl")
    site = tmp / "site"
    pip("install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel), cwd=tmp)
    return wheel, site


def srlm(site: Path, cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("SRLM_KILL_AT", "WANDB_SERVICE")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-m", "srlm", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return out.stdout


def test_wheel_lists_configs_recipes_seed_data_and_templates(wheel_site):
    wheel, _ = wheel_site
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [f"{SHIPPED}/conf/recipe/{name}.yaml" for name in checkout_recipes()]
    expected += [f"{SHIPPED}/data/seed/{p.name}" for p in (REPO / "data" / "seed").glob("*.jsonl")]
    expected += [f"{SHIPPED}/data/verifiable/{p.name}" for p in (REPO / "data" / "verifiable").glob("*.jsonl")]
    expected += [f"{SHIPPED}/srlm/templates/{p.name}" for p in (REPO / "srlm" / "templates").glob("*.txt")]
    expected += [f"srlm/templates/{p.name}" for p in (REPO / "srlm" / "templates").glob("*.txt")]
    conf = REPO / "conf"
    expected += [
        f"{SHIPPED}/conf/{p.relative_to(conf).as_posix()}"
        for p in conf.glob("**/*.yaml")  # `**` does not enter the conf/recipe symlink: recipes are checked above
        if p.relative_to(conf).parts[0] != "recipe"
    ]
    assert "llama3-8b/lora" in checkout_recipes()
    assert f"{SHIPPED}/conf/config.yaml" in names and f"{SHIPPED}/data/seed/messages.jsonl" in names
    assert sorted(set(expected) - names) == []


def test_installed_wheel_runs_outside_the_checkout(wheel_site, tmp_path):
    _, site = wheel_site
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = "import srlm, srlm.config.compose as c; print(srlm.__file__); print(c.ROOT); print(c.CONF_DIR)"
    imported = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr[-2000:]
    module, root, conf_dir = (Path(line) for line in imported.stdout.splitlines())
    assert module.is_relative_to(site) and not module.is_relative_to(REPO)
    assert root == site / SHIPPED and conf_dir == root / "conf"

    listed = [line.split()[0] for line in srlm(site, elsewhere, "recipes").splitlines() if line.strip()]
    assert listed == checkout_recipes()

    plan = srlm(site, elsewhere, "run", "--dry-run", "recipe=smoke", f"run_dir={tmp_path / 'run'}")
    assert "[iteration 0]" in plan and str(REPO) not in plan

    cfg = yaml.safe_load(srlm(site, elsewhere, "config", "recipe=llama3-8b/lora"))
    assert cfg["launcher"]["accelerate_config"] == str(root / "conf" / "accelerate" / "zero2.yaml")
    assert cfg["judge"]["template"] == str(root / "srlm" / "templates" / "judge_additive.txt")
    shipped = list(strings(cfg))
    assert not [s for s in shipped if str(REPO) in s]
    for path in [s for s in shipped if s.startswith(str(site))]:  # what `${srlm_root:}/...` named
        assert Path(path).is_file(), path


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node
