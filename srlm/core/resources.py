"""Where srlm's shipped files live: `conf/`, the recipes, `data/seed/` and the prompt templates.

Two layouts, one function (`root()`) deciding between them:

- a source checkout (tests, editable installs): the repository root, i.e. the folder above the
  `srlm` package, with `conf/`, `recipes/` (reached by hydra through the `conf/recipe -> ../recipes`
  symlink), `data/seed/` and `srlm/templates/`;
- an installed wheel: `srlm/_root/` inside the package, which the build (setup.py) fills with the
  same relative paths: `conf/` with the recipes copied into `conf/recipe/` (a wheel keeps no
  symlink), `data/seed/` and `srlm/templates/`.

So `${srlm_root:}/data/seed/messages.jsonl` or `${srlm_root:}/srlm/templates/judge_additive.txt`
names an existing file in both.
"""

from __future__ import annotations

import functools
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `srlm` package
SHIPPED = "_root"  # the folder inside the package that a wheel's build fills (setup.py)


@functools.cache
def root() -> Path:
    """The folder `${srlm_root:}` names: the installed copy's `srlm/_root`, else the checkout's root."""
    shipped = PACKAGE_DIR / SHIPPED
    if (shipped / "conf" / "config.yaml").is_file():
        return shipped
    return PACKAGE_DIR.parent


def conf_dir() -> Path:
    """Hydra's primary config folder (recipes under its `recipe/` group)."""
    return root() / "conf"


def template(name: str) -> Path:
    """A prompt template shipped in `srlm/templates/` (part of the package in both layouts)."""
    return PACKAGE_DIR / "templates" / name


def recipes_dir() -> Path:
    """The recipes: the checkout's `recipes/`, or `conf/recipe/` where there is no such folder (a wheel)."""
    recipes = root() / "recipes"
    return recipes if recipes.is_dir() else conf_dir() / "recipe"
