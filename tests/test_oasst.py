import pytest

from srlm.core.errors import SrlmError
from srlm.data.oasst import build_ift, first_turn_prompts, load_messages, ranked_responses


def test_ift_takes_rank0_english_replies(oasst_file):
    ift = build_ift(load_messages(str(oasst_file)), size=10, seed=0)
    by_prompt = {e["prompt_id"]: e["messages"] for e in ift}
    assert set(by_prompt) == {"p1", "p2"}
    assert by_prompt["p1"][1] == {"role": "assistant", "content": "Boil water, add the egg, wait 9 minutes."}
    assert by_prompt["p1"][0]["role"] == "user"


def test_ift_size_limit_and_seed(oasst_file):
    messages = load_messages(str(oasst_file))
    assert len(build_ift(messages, size=1, seed=0)) == 1
    assert {build_ift(messages, size=1, seed=seed)[0]["prompt_id"] for seed in range(8)} == {"p1", "p2"}


def test_ranked_responses_sorted_and_filtered(oasst_file):
    ranked = ranked_responses(load_messages(str(oasst_file)))
    assert [r["prompt_id"] for r in ranked] == ["p1", "p2"]
    assert [x["rank"] for x in ranked[1]["replies"]] == [0, 1, 2]
    assert [x["message_id"] for x in ranked[0]["replies"]] == ["a1a", "a1b"]  # deleted reply dropped


def test_first_turn_prompts_excludes_other_languages(oasst_file):
    assert [m["message_id"] for m in first_turn_prompts(load_messages(str(oasst_file)))] == ["p1", "p2", "p4"]


def test_malformed_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"message_id": "x", "parent_id": null, "role": "prompter", "text": "hi"}\n{not json\n')
    with pytest.raises(SrlmError, match=r"bad\.jsonl:2"):
        load_messages(str(bad))


def test_missing_field_and_bad_role(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"message_id": "x", "role": "prompter", "text": "hi"}\n')
    with pytest.raises(SrlmError, match=r"m\.jsonl:1: missing field\(s\) parent_id"):
        load_messages(str(f))
    f.write_text('{"message_id": "x", "parent_id": null, "role": "bot", "text": "hi"}\n')
    with pytest.raises(SrlmError, match="role"):
        load_messages(str(f))


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(SrlmError, match="no such file"):
        load_messages(str(tmp_path / "none.jsonl"))


def test_seed_set_in_data_is_usable():
    messages = load_messages("data/seed/messages.jsonl")
    assert len(ranked_responses(messages)) >= 40
    assert len(first_turn_prompts(messages)) > len(ranked_responses(messages))
