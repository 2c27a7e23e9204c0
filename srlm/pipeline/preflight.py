"""Inputs checked before any stage runs (and by `--dry-run`): every local data file and model directory a
config names exists, and a model name that is a near miss of a built-in one is called out, not sent to the hub.
A local model directory holds a readable `config.json`, weights and a tokenizer; a hub model that cannot be
fetched (offline or the hub unreachable) is in the local cache; a prompt pool holds enough prompts for every
iteration."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from srlm.config.run_config import enum_value
from srlm.core.errors import SrlmError
from srlm.models.checkpoints import EMBEDDED, TINY
from srlm.pipeline.eval_overlap import overlap_problems

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".txt")
EVALUATORS = ("seed", "self", "endpoint")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.gguf", "*.safetensors.index.json", "*.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


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
    if cfg.eval.evaluator not in EVALUATORS:
        models["eval.evaluator"] = cfg.eval.evaluator
    return models


def problems(cfg) -> list[str]:
    found = []
    for key, name in data_inputs(cfg).items():
        if name and looks_local(name) and not Path(name).expanduser().is_file():
            if Path(name).expanduser().is_dir():
                found.append(f"`{key}`: {name} is a directory (expected a file)")
            else:
                found.append(f"`{key}`: no such file {name}")
    for key, name in model_inputs(cfg).items():
        if not name or name in (EMBEDDED, TINY):
            continue
        if Path(name).expanduser().is_dir():
            found += model_dir_problems(key, Path(name).expanduser())
        elif looks_local(name):
            found.append(f"`{key}`: no such model directory {name}")
        elif "/" not in name:
            names = [EMBEDDED, TINY, *(EVALUATORS if key == "eval.evaluator" else ())]
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            what = "evaluator (seed, self, endpoint or a model)" if key == "eval.evaluator" else "model"
            if close:
                found.append(f"`{key}`: unknown {what} `{name}`: did you mean `{close[0]}`?")
    if cfg.eft.enabled and enum_value(cfg.eft.verdict_source) == "teacher" and not cfg.eft.teacher:
        found.append("`eft.teacher`: eft.verdict_source=teacher needs a teacher model")
    return found


def model_dir_problems(key: str, directory: Path) -> list[str]:
    """What keeps `from_pretrained` from loading a local directory: no or unreadable `config.json`, no weights."""
    config = directory / "config.json"
    if not config.is_file():
        return [f"`{key}`: {directory} holds no model (no config.json; expected a saved checkpoint)"]
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return [f"`{key}`: {config}:{e.lineno}: not valid JSON ({e.msg}); the checkpoint is incomplete"]
    except UnicodeDecodeError:
        return [f"`{key}`: {config}: not UTF-8 text; the checkpoint is damaged"]
    if not any(next(directory.glob(p), None) for p in WEIGHT_PATTERNS):
        return [f"`{key}`: {directory} holds no weights (no *.safetensors or *.bin; the checkpoint is incomplete)"]
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        return [f"`{key}`: {directory} holds no tokenizer (no tokenizer.json or tokenizer_config.json; save the "
                "tokenizer with the model)"]  # fmt: skip
    return []


def read_local_inputs(cfg) -> None:
    """Read every local data file the run will use, so a bad row stops it now (file:line), not after hours."""
    from srlm.core.io import read_jsonl
    from srlm.data.eval_sets import is_rewardbench2, load_best_of_n, load_preference_pairs, load_prompt_set, read_rows
    from srlm.data.oasst import load_messages
    from srlm.data.prompt_pool import check_pool_size, pool_prompts
    from srlm.data.verifiable import load_verifiable
    from srlm.rewarding.templates import load_template

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
    check_pool_size(cfg)


def hub_ids(cfg) -> list[tuple[str, str, str]]:
    """(key, hub id, repo type) of every input the run would fetch from the hub."""
    ids = [(k, n, "model") for k, n in model_inputs(cfg).items() if n and n not in (EMBEDDED, TINY)]
    ids += [(k, n, "dataset") for k, n in data_inputs(cfg).items() if n]
    return [(k, n, kind) for k, n, kind in ids if not looks_local(n) and not Path(n).expanduser().exists()]


def is_cached(name: str, kind: str) -> bool:
    """Whether the hub's local cache holds `name` (for a model: its config.json), so it loads without the hub.
    Data sets are also kept in the `datasets` library's own cache: they are not checked here."""
    import huggingface_hub

    if kind != "model":
        return True
    return isinstance(huggingface_hub.try_to_load_from_cache(name, "config.json", repo_type=kind), str)


def hub_problems(cfg, planning: bool = False) -> list[str]:
    """Hub ids that the hub says do not exist, asked once each. Offline or unreachable: a model not in the local
    cache is a problem (loading it would fail after the stages before it), only a note when `planning` (a dry run
    may plan on another machine than the run's); a cached one is used as it is."""
    import huggingface_hub

    found = []

    def not_cached(key: str, name: str, kind: str, why: str) -> None:
        line = f"`{key}`: {kind} `{name}` is not in the local hub cache and {why}; download it first or fix the name"
        if planning:
            print(f"[srlm] {line}")
        else:
            found.append(line)

    for key, name, kind in hub_ids(cfg):
        if huggingface_hub.constants.HF_HUB_OFFLINE:
            if not is_cached(name, kind):
                not_cached(key, name, kind, "the hub is off (HF_HUB_OFFLINE)")
            continue
        try:
            exists = huggingface_hub.repo_exists(name, repo_type=kind)
        except Exception as e:  # noqa: BLE001 - no network, proxy, ...: a cached copy serves, else it is an error
            if is_cached(name, kind):
                print(f"[srlm] `{key}`: could not ask the hub whether {kind} {name} exists ({type(e).__name__})")
            else:
                not_cached(key, name, kind, f"the hub cannot be reached ({type(e).__name__})")
            continue
        if not exists:
            found.append(f"`{key}`: no {kind} `{name}` on the hub (a typo, or private: log in first)")
    return found


def check_inputs(cfg, planning: bool = False) -> None:
    """Raise one error listing every missing input, then one for the first bad row, then one for eval sets that
    share prompts with the seed data, before any work.

    `planning` (a dry run): no data set is downloaded, and a hub model missing from this machine's cache while
    offline is a note, not an error."""
    found = problems(cfg)
    found += hub_problems(cfg, planning) if not found else []
    if found:
        raise SrlmError("missing input(s): " + "; ".join(found))
    read_local_inputs(cfg)
    overlap = overlap_problems(cfg, fetch=not planning)
    if overlap:
        raise SrlmError("eval set(s) overlap the training data: " + "; ".join(overlap))
