"""A base model (BPE tokenizer with no chat template, eos `</s>`) through the seed SFT: real turn tokens,
every reply trained to end with `<|im_end|>`, generation that stops there on both engines, and dropout
built into the model as configured but not saved with it."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from srlm.config.compose import compose
from srlm.core.io import write_jsonl
from srlm.core.paths import RunPaths
from srlm.inference.engines.hf import HfEngine
from srlm.inference.engines.vllm import VllmEngine
from srlm.models.chat_format import TURN_END, TURN_START
from srlm.models.loading import load_model
from srlm.models.tiny import tiny_base_checkpoint
from srlm.stages import current_model, sft
from srlm.training.sft import sft_trainer

FACTS = [
    ("Name a colour of the sky.", "Blue."),
    ("How many legs does a cat have?", "Four legs."),
    ("What do bees make?", "Honey and wax."),
    ("Say hello.", "Hello there!"),
]
DROPOUT = 0.1


def rows() -> list[dict]:
    return [
        {"prompt_id": str(i), "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for i, (q, a) in enumerate(FACTS)
    ]


def base_run_dir(run_dir, steps: int):
    """A run directory on the tiny base model with the IFT rows written, and its config (dropout 0.1)."""
    cfg = compose(
        [
            "recipe=smoke",
            f"run_dir={run_dir}",
            f"model.name={tiny_base_checkpoint()}",
            f"model.dropout={DROPOUT}",
            "eft.enabled=false",
            f"sft.max_steps={steps}",
            "sft.per_device_train_batch_size=4",
            "sft.learning_rate=1e-2",
            "sft.min_lr=1e-3",
            "sft.save_steps=100",
        ]
    )
    paths = RunPaths(run_dir).iteration(0)
    paths.dir.mkdir(parents=True)
    write_jsonl(paths.ift, rows())
    return cfg, paths


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """60 SFT steps: enough for the tiny model to learn the replies and where its turn ends."""
    return base_run_dir(tmp_path_factory.mktemp("base-run"), steps=60)


@pytest.fixture(scope="module")
def trained(base_run):
    cfg, paths = base_run
    sft.run(cfg, paths)
    return paths.model


@pytest.fixture(scope="module")
def trained_briefly(tmp_path_factory):
    """The same SFT, 2 steps: where the dropout goes does not depend on how long it trained."""
    cfg, paths = base_run_dir(tmp_path_factory.mktemp("base-run-brief"), steps=2)
    sft.run(cfg, paths)
    return paths.model


def test_base_tokenizer_has_no_template_and_no_turn_tokens():
    tok = AutoTokenizer.from_pretrained(tiny_base_checkpoint())
    assert tok.chat_template is None and tok.eos_token == "</s>"
    assert TURN_END not in tok.get_vocab()


def test_sft_data_of_a_base_model_ends_every_reply_with_the_end_of_turn_token(base_run, tmp_path):
    cfg, paths = base_run
    trainer = sft_trainer(cfg, current_model(cfg, paths), rows(), tmp_path, cfg.seed)
    tok = trainer.processing_class
    end = tok.convert_tokens_to_ids(TURN_END)
    assert tok.eos_token == TURN_END
    assert tok(TURN_START + "user" + TURN_END, add_special_tokens=False).input_ids[0] == tok.convert_tokens_to_ids(
        TURN_START
    )
    assert trainer.model.get_input_embeddings().weight.shape[0] >= len(tok)
    for example in trainer.train_dataset:
        completion = [label for label in example["labels"] if label != -100]  # the tokens the loss trains on
        words = [i for i in completion if tok.decode([i]).strip()]  # ChatML puts a newline after the marker
        assert words[-1] == end and completion.count(end) == 1, tok.decode(completion)
    attention = trainer.model.model.layers[0].self_attn
    assert attention.attention_dropout == DROPOUT


@pytest.mark.slow
def test_the_trained_base_model_stops_at_the_end_of_its_turn(base_run, trained):
    tok = AutoTokenizer.from_pretrained(trained)
    end = tok.convert_tokens_to_ids(TURN_END)
    generation_eos = AutoModelForCausalLM.from_pretrained(trained).generation_config.eos_token_id
    assert end in generation_eos and tok.convert_tokens_to_ids("</s>") in generation_eos
    prompts = [q for q, _ in FACTS]
    for engine in (HfEngine(str(trained)), VllmEngine(str(trained), base_run[0].generation, dtype="float32")):
        with engine:
            outs = engine.sample([engine.chat(p) for p in prompts], 1, 32, 0.0, 1.0, seeds=[0] * len(prompts))
        for (_, answer), (out,) in zip(FACTS, outs):
            assert out["finish_reason"] == "stop" and out["completion_tokens"] < 32, (engine.backend, out)
            assert out["text"] == answer, engine.backend


def test_dropout_is_built_into_the_model_and_not_saved_with_it(trained_briefly):
    trained = trained_briefly
    base_dropout = AutoConfig.from_pretrained(tiny_base_checkpoint()).attention_dropout
    assert AutoConfig.from_pretrained(trained).attention_dropout == base_dropout != DROPOUT
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12]])
    for dropout, differ in ((DROPOUT, True), (None, False)):
        model = load_model(str(trained), "float32", for_training=True, dropout=dropout).train()
        assert {layer.self_attn.attention_dropout for layer in model.model.layers} == {dropout or base_dropout}
        torch.manual_seed(0)
        first = model(ids).logits
        second = model(ids).logits
        assert (not torch.equal(first, second)) == differ


def test_full_fine_tuning_in_bf16_keeps_float32_master_weights(base_run, tmp_path):
    cfg, paths = base_run
    cfg = compose([f"run_dir={paths.run.root}", f"model.name={cfg.model.name}", "model.dtype=bfloat16"])
    trainer = sft_trainer(cfg, current_model(cfg, paths), rows(), tmp_path, cfg.seed)
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
