"""Inputs checked before any stage runs (and by `--dry-run`): every local data file and model directory a
config names exists, and a model name that is a near miss of a built-in one is called out, not sent to the hub."""

from __future__ import annotations

import difflib
from pathlib import Path

from srlm.config import enum_value
from srlm.errors import SrlmError
from srlm.models import EMBEDDED, TINY

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".txt")


def looks_local(name: str) -> bool:
    """A path rather than a hub id: a file suffix, or a start or depth no hub id has."""
    return Path(name).suffix in LOCAL_SUFFIXES or name.startswith((".", "/", "~")) or name.count("/") > 1


def data_inputs(cfg) -> dict[str, str | None]:
    """Config key -> file or hub id of every data input the run will read."""
    inputs = {
        "data.oasst": cfg.data.oasst,
        "data.eval_prompts": cfg.data.eval_prompts,
        "judge.template": cfg.judge.template,
        "prompts.pool": cfg.prompts.pool if enum_value(cfg.prompts.source) == "pool" else None,
        "eval.rewardbench": cfg.eval.rewardbench if cfg.eval.enabled else None,
        "eval.ifeval": cfg.eval.ifeval if cfg.eval.enabled else None,
        "eft.verifiable": cfg.eft.verifiable if cfg.eft.enabled else None,
    }
    if cfg.eft.enabled and enum_value(cfg.eft.verdict_source) == "written":
        inputs["data.verdicts"] = cfg.data.verdicts
    return inputs


def model_inputs(cfg) -> dict[str, str | None]:
    models = {"model.name": cfg.model.name, "prompts.generator": cfg.prompts.generator}
    if cfg.eft.enabled and enum_value(cfg.eft.verdict_source) == "teacher":
        models["eft.teacher"] = cfg.eft.teacher
    if cfg.eval.evaluator not in ("seed", "self", "endpoint"):
        models["eval.evaluator"] = cfg.eval.evaluator
    return models


def problems(cfg) -> list[str]:
    found = []
    for key, name in data_inputs(cfg).items():
        if name and looks_local(name) and not Path(name).expanduser().is_file():
            found.append(f"`{key}`: no such file {name}")
    for key, name in model_inputs(cfg).items():
        if not name or name in (EMBEDDED, TINY) or Path(name).expanduser().is_dir():
            continue
        if looks_local(name):
            found.append(f"`{key}`: no such model directory {name}")
        elif "/" not in name:
            close = difflib.get_close_matches(name, [EMBEDDED, TINY], n=1, cutoff=0.75)
            if close:
                found.append(f"`{key}`: unknown model `{name}`: did you mean `{close[0]}`?")
    if cfg.eft.enabled and enum_value(cfg.eft.verdict_source) == "teacher" and not cfg.eft.teacher:
        found.append("`eft.teacher`: eft.verdict_source=teacher needs a teacher model")
    return found


def read_local_inputs(cfg) -> None:
    """Read every local data file the run will use, so a bad row stops it now (file:line), not after hours."""
    from srlm.eval_sets import is_rewardbench2, load_best_of_n, load_preference_pairs, load_prompt_set, read_rows
    from srlm.io import read_jsonl
    from srlm.judge import load_template
    from srlm.oasst import load_messages
    from srlm.stages.prompts import pool_prompts
    from srlm.verifiable import load_verifiable

    readers = {
        "data.oasst": lambda path: load_messages(path, cfg.data.oasst_split),
        "data.eval_prompts": load_prompt_set,
        "judge.template": load_template,
        "prompts.pool": lambda path: pool_prompts(cfg),
        "data.verdicts": read_jsonl,
        "eval.ifeval": load_verifiable,
        "eft.verifiable": load_verifiable,
        "eval.rewardbench": lambda path: (
            load_best_of_n if is_rewardbench2(read_rows(path, "filtered", "RewardBench")) else load_preference_pairs
        )(path),
    }
    for key, name in data_inputs(cfg).items():
        if name and Path(name).expanduser().is_file():
            readers[key](name)


def hub_ids(cfg) -> list[tuple[str, str, str]]:
    """(key, hub id, repo type) of every input the run would fetch from the hub."""
    ids = [(k, n, "model") for k, n in model_inputs(cfg).items() if n and n not in (EMBEDDED, TINY)]
    ids += [(k, n, "dataset") for k, n in data_inputs(cfg).items() if n]
    return [(k, n, kind) for k, n, kind in ids if not looks_local(n) and not Path(n).expanduser().exists()]


def hub_problems(cfg) -> list[str]:
    """Hub ids that the hub says do not exist, asked once each; unreachable or offline: not checked here."""
    import huggingface_hub

    if huggingface_hub.constants.HF_HUB_OFFLINE:
        return []
    found = []
    for key, name, kind in hub_ids(cfg):
        try:
            exists = huggingface_hub.repo_exists(name, repo_type=kind)
        except Exception as e:  # noqa: BLE001 - no network, proxy, ...: the stage that loads it will say
            print(f"[srlm] `{key}`: could not ask the hub whether {kind} {name} exists ({type(e).__name__})")
            continue
        if not exists:
            found.append(f"`{key}`: no {kind} `{name}` on the hub (a typo, or private: log in first)")
    return found


def check_inputs(cfg) -> None:
    """Raise one error listing every missing input, then one for the first bad row, before any work."""
    found = problems(cfg)
    found += hub_problems(cfg) if not found else []
    if found:
        raise SrlmError("missing input(s): " + "; ".join(found))
    read_local_inputs(cfg)
