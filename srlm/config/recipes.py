"""Recipe lookup and the key reference: `srlm recipes`, `srlm config --keys`."""

from __future__ import annotations

from omegaconf import DictConfig

from srlm.config.schema import SrlmConfig
from srlm.core.resources import recipes_dir


def recipe_names() -> list[str]:
    """Every recipe, as `recipe=` takes it (`smoke`, `llama3-8b/lora`, ...)."""
    recipes = recipes_dir()
    return sorted(p.relative_to(recipes).with_suffix("").as_posix() for p in recipes.rglob("*.yaml"))


def recipe_summary(name: str) -> str:
    """The first line of a recipe's header comment."""
    lines = (recipes_dir() / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    comments = [line.lstrip("# ").strip() for line in lines if line.startswith("#") and "@package" not in line]
    return comments[0] if comments else ""


def key_help() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) of every schema key, from the dataclasses' help metadata."""
    import dataclasses

    rows = []

    def walk(cls, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                walk(type(default), f"{prefix}{f.name}.")
            else:
                rows.append((f"{prefix}{f.name}", str(getattr(default, "value", default)), f.metadata.get("help", "")))

    walk(SrlmConfig, "")
    return rows


def flat_keys(node, prefix: str = ""):
    """Dotted names of every leaf key of a config node."""
    for k in node:
        value = node._get_node(k)
        if isinstance(value, DictConfig) and not value._is_none():  # a null block (model.lora) is one key
            yield from flat_keys(value, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"
