"""Hydra composition of `conf/config.yaml` with overrides; every error names the key or group."""

from __future__ import annotations

import re

from omegaconf import DictConfig, OmegaConf

from srlm.config.checks import validate
from srlm.config.recipes import flat_keys, recipe_names
from srlm.config.schema import SrlmConfig, register_configs
from srlm.core.errors import SrlmError
from srlm.core.resources import conf_dir, root

ROOT = root()  # the checkout's root, or the installed package's `srlm/_root` (srlm/core/resources.py)


CONF_DIR = conf_dir()


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """Compose `conf/config.yaml` with overrides; any schema violation is a SrlmError naming the key."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    check_group_choices(overrides)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as e:
        raise SrlmError(f"invalid configuration: {composition_error(str(e), e.__cause__)}") from None
    except AssertionError:  # omegaconf, setting a key under a null block (model.lora.r with model.lora null)
        nested = [o.split("=", 1)[0].lstrip("+") for o in overrides if o.split("=", 1)[0].count(".") > 1]
        raise SrlmError(
            f"invalid configuration: cannot set {', '.join(nested) or 'a nested key'} here: its block is null in this "
            f"config; choose a config group that has it first (model.lora: model=llama3-8b-lora, or a model file "
            f"of your own with a `lora:` block)"
        ) from None
    check_known_keys(cfg)
    validate(cfg)
    return cfg


def group_choices(group: str) -> list[str]:
    """The options of a config group (`conf/<group>/*.yaml`); the schema stored under `<group>/schema` is none."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def check_group_choices(overrides) -> None:
    """`model=nope` or `model=schema` (the bare schema, no model): one line listing the group's options."""
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if key != "recipe" and "/" not in key and "." not in key and (CONF_DIR / key).is_dir():
            choices = group_choices(key)
            if value not in choices:
                raise SrlmError(f"invalid configuration: `{key}`: {unknown_choice(key, value, choices)}")


def unknown_choice(group: str, value: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"no option `{value}`; {hint}options: {', '.join(choices)} (conf/{group}/)"


def check_known_keys(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks (`+dpo.learning_rat=...` adds one that nothing would read)."""
    known = set(flat_keys(OmegaConf.structured(SrlmConfig)))
    extra = [k for k in flat_keys(cfg) if k not in known and not any(k.startswith(f"{p}.") for p in known)]
    if extra:
        raise SrlmError(f"invalid configuration: {unknown_key_message(extra[0])}")


def unknown_key_message(key: str) -> str:
    import difflib

    known = list(flat_keys(OmegaConf.structured(SrlmConfig)))
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(f'`{k}`' for k in close)}?" if close else "see `srlm config --keys`"
    return f"unknown key `{key}`: {hint} (srlm/config.py lists every key)"


def composition_error(message: str, cause: BaseException | None = None) -> str:
    """Hydra's message, with its `+key` advice for an unknown key replaced by the schema's closest keys.

    `+key=value` would add the misspelt key to the config, where nothing reads it: the run would go on
    with the default silently.
    """

    merging = re.match(r"Error merging override (\S+?)=", message)
    if merging and cause is not None:  # the key, then omegaconf's reason: "Value 'four' ... converted to Integer"
        return f"`{merging.group(1)}`: {str(cause).splitlines()[0]}"
    missing_recipe = re.search(r"Could not find 'recipe/([^']+)'", message)
    if missing_recipe:
        return f"unknown recipe `{missing_recipe.group(1)}`; recipes: {', '.join(recipe_names())} (srlm recipes)"
    missing_option = re.search(r"Could not find '([^'/]+)/([^']+)'", message)
    if missing_option:  # a recipe's `override /group: name`; hydra's message goes on with its search path
        group, value = missing_option.groups()
        return f"`{group}`: {unknown_choice(group, value, group_choices(group))}"
    unknown = re.search(r"Could not override '([^']+)'", message)
    if not unknown:
        return message.splitlines()[0] if "Could not override" in message else message
    return unknown_key_message(unknown.group(1))
