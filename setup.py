"""Ships conf/, the recipes and data/seed/ inside the wheel; every other setting is in pyproject.toml.

Those folders stay at the repository's top level (a checkout runs from them, see srlm/core/resources.py).
A regular (non-editable) build copies them into `srlm/_root/` with the paths `${srlm_root:}` configs
use: `conf/` (recipes copied into `conf/recipe/`, as a wheel keeps no symlink), `data/seed/` and
`srlm/templates/`. Editable installs run from the checkout and copy nothing.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# (source folder, patterns under it, destination under srlm/_root)
SHIPPED = [
    ("conf", ["**/*.yaml"], "conf"),
    ("recipes", ["**/*.yaml"], "conf/recipe"),
    ("data", ["README.md", "seed/*.jsonl", "verifiable/*.jsonl"], "data"),
    ("srlm/templates", ["*.txt"], "srlm/templates"),
]


def shipped_files() -> dict[Path, Path]:
    """{source file: path under srlm/_root}; conf/recipe (the symlink to ../recipes) comes from recipes/."""
    files = {}
    for src, patterns, dest in SHIPPED:
        base = HERE / src
        for pattern in patterns:
            for path in sorted(base.glob(pattern)):
                rel = path.relative_to(base)
                if path.is_file() and not (src == "conf" and rel.parts[0] == "recipe"):
                    files[path] = Path(dest) / rel
    missing = [src for src, _, _ in SHIPPED if not any(p.is_relative_to(HERE / src) for p in files)]
    if missing:
        raise RuntimeError(f"nothing to ship from {', '.join(missing)} under {HERE}")
    return files


class BuildPyWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "srlm" / "_root"
        shutil.rmtree(target, ignore_errors=True)  # no stale file from an earlier build
        for src, rel in shipped_files().items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target / rel)


setup(cmdclass={"build_py": BuildPyWithResources})
