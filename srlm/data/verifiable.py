"""Verifiable instructions (IFEval, Zhou et al. 2023): prompts whose constraints a program checks.

A verifiable prompt row has Google IFEval's `input_data.jsonl` schema: `key`, `prompt`, `instruction_id_list`
and `kwargs` (one dict per instruction). The checkers are `if-verifiable`'s copy of IFEval's instruction
registry; srlm checks the rows before any work (an unknown instruction id or a missing or mistyped argument
would otherwise be skipped, or filled with a random value, by the registry) and calls the library to verify.

Two instruction types need NLTK's `punkt` data (sentence and word tokenizers); where it is not installed
they are left out, with one line saying so.
"""

from __future__ import annotations

import functools
from pathlib import Path

from srlm.core.errors import SrlmError

NEEDS_PUNKT = ("length_constraints:number_sentences", "change_case:capital_word_frequency")
INT_ARGS = (
    "num_sentences", "num_placeholders", "num_bullets", "num_highlights", "num_sections", "num_paragraphs",
    "frequency", "num_words", "nth_paragraph", "let_frequency", "capital_frequency",
)  # fmt: skip
LIST_ARGS = ("keywords", "forbidden_words")
VERIFIABLE_FIELDS = ("instruction_id_list", "kwargs")


def registry() -> dict:
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    return INSTRUCTION_DICT


@functools.cache
def punkt_available() -> bool:
    """Whether NLTK's punkt data is installed (the sentence and word tokenizers the two types above call)."""
    import nltk
    from if_verifiable.ifeval import instructions_util

    try:
        instructions_util.count_sentences("One. Two.")
        nltk.word_tokenize("one two")
    except LookupError:
        return False
    return True


@functools.cache
def supported_ids() -> frozenset[str]:
    """The instruction ids srlm can check here: the registry's, less the punkt ones without punkt data."""
    return frozenset(i for i in registry() if punkt_available() or i not in NEEDS_PUNKT)


def is_verifiable(row: dict) -> bool:
    return "instruction_id_list" in row


def expected_args(instruction_id: str) -> list[str]:
    """The arguments the registry's checker takes (all needed: a missing one is drawn at random by the library)."""
    return list(registry()[instruction_id](instruction_id).get_instruction_args_keys())


def _type_problem(name: str, value) -> str | None:
    if name in INT_ARGS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else "an integer >= 0"
    if name in LIST_ARGS:
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        return None if ok else "a non-empty list of strings"
    return None if isinstance(value, str) and value else "a non-empty string"


def instruction_problem(instruction_id, kwargs) -> str | None:
    """What is wrong with one instruction of a row (None when the library can check it)."""
    if instruction_id not in registry():
        return f"unknown instruction id {instruction_id!r} (known: {', '.join(registry())})"
    if not isinstance(kwargs, dict):
        return f"kwargs of {instruction_id} must be an object, got {type(kwargs).__name__}"
    given = {k: v for k, v in kwargs.items() if v is not None}  # IFEval's hub copy has every key, most null
    expected = expected_args(instruction_id)
    unknown = sorted(set(given) - set(expected))
    if unknown:
        return (
            f"{instruction_id}: unknown argument(s) {', '.join(unknown)} (expected: {', '.join(expected) or 'none'})"
        )
    missing = [k for k in expected if k not in given]
    if missing:
        return f"{instruction_id}: missing argument(s) {', '.join(missing)}"
    for name, value in given.items():
        wanted = _type_problem(name, value)
        if wanted:
            return f"{instruction_id}: argument `{name}` = {value!r}; expected {wanted}"
    try:
        registry()[instruction_id](instruction_id).build_description(**given)
    except (ValueError, TypeError) as e:
        return f"{instruction_id}: {str(e).splitlines()[0]}"
    return None


def row_problem(row: dict) -> str | None:
    """What is wrong with the verifiable fields of a row, or None."""
    ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return "`instruction_id_list` must be a non-empty list of instruction ids"
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        return f"`kwargs` must be a list of {len(ids)} object(s), one per instruction"
    for instruction_id, args in zip(ids, kwargs):
        problem = instruction_problem(instruction_id, args)
        if problem:
            return problem
    return None


def check_rows(source: str, rows: list[dict], lines: list[int] | None = None) -> None:
    """Raise a SrlmError naming `source:line` at the first verifiable row the library cannot check."""
    for i, row in enumerate(rows):
        if is_verifiable(row) or "kwargs" in row:
            problem = row_problem(row)
            if problem:
                raise SrlmError(f"{source}:{lines[i] if lines else i + 1}: {problem}")


def load_verifiable(source: str) -> tuple[list[dict], dict]:
    """Rows of a file in Google's IFEval schema as `{prompt_id, prompt, instruction_id_list, kwargs}`, checked.

    Rows with an instruction type that cannot be checked here (punkt data missing) are left out; the second value
    counts them by type.
    """
    from srlm.core.io import read_jsonl

    path = Path(source).expanduser()
    if not path.is_file():
        raise SrlmError(f"{source}: no such file (a JSONL file in IFEval's schema: key, prompt, ...)")
    rows = read_jsonl(path)
    if not rows:
        raise SrlmError(f"{source}: no rows")
    out, seen, left_out = [], set(), {}
    for lineno, r in enumerate(rows, 1):
        if not isinstance(r.get("prompt"), str) or not r["prompt"].strip():
            raise SrlmError(f"{source}:{lineno}: no prompt (IFEval schema: key, prompt, instruction_id_list, kwargs)")
        if not is_verifiable(r):
            raise SrlmError(f"{source}:{lineno}: no `instruction_id_list` (IFEval schema)")
        check_rows(source, [r], [lineno])
        prompt_id = str(r.get("key", r.get("prompt_id", lineno)))
        if prompt_id in seen:
            raise SrlmError(f"{source}:{lineno}: duplicate key {prompt_id!r}")
        seen.add(prompt_id)
        unsupported = [i for i in r["instruction_id_list"] if i not in supported_ids()]
        for i in unsupported:
            left_out[i] = left_out.get(i, 0) + 1
        if not unsupported:
            out.append({"prompt_id": prompt_id, "prompt": r["prompt"], **{k: r[k] for k in VERIFIABLE_FIELDS}})
    report_left_out(source, left_out)
    return out, left_out


def report_left_out(source: str, left_out: dict) -> None:
    if left_out:
        print(
            f"[srlm] {source}: prompts with {', '.join(sorted(left_out))} left out: NLTK's punkt data is not "
            "installed (python -m nltk.downloader punkt punkt_tab)",
            flush=True,
        )


def verify(row: dict, response: str) -> dict:
    """The library's verdict on `response` to a verifiable prompt row: per instruction strict and loose pass."""
    from if_verifiable import IFEvalSample, evaluate_output_for_sample

    sample = IFEvalSample(
        key=0, prompt=row["prompt"], instruction_id_list=list(row["instruction_id_list"]), kwargs=list(row["kwargs"])
    )
    results, _ = evaluate_output_for_sample("ifeval", sample, response)
    if not results:  # an empty response passes nothing
        results_by_id = [(i, False, False) for i in row["instruction_id_list"]]
    else:
        results_by_id = [(r.instruction_id, r.strict_pass, r.loose_pass) for r in results]
    return {
        "instruction_id_list": [i for i, _, _ in results_by_id],
        "follow_instruction_list": [s for _, s, _ in results_by_id],
        "follow_instruction_list_loose": [lo for _, _, lo in results_by_id],
    }


def passed(verdict: dict) -> int:
    """Constraints passed (strict)."""
    return sum(verdict["follow_instruction_list"])


def verifier_score(verdict: dict, top: float = 5.0) -> float:
    """The verdict as a judge score on the rubric's 0-`top` scale: the share of constraints passed times `top`."""
    return top * passed(verdict) / len(verdict["follow_instruction_list"])
