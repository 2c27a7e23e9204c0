"""The OpenAI-compatible endpoint evaluator, against a stub server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from srlm.config.compose import compose
from srlm.core.errors import SrlmError
from srlm.data.eval_sets import load_preference_pairs
from srlm.evaluation.evaluators import EndpointEvaluator


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.headers.get("Authorization"), body))
        answer = {"choices": [{"message": {"content": "A is more helpful.\nVerdict: A"}}]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = HTTPServer(("127.0.0.1", 0), Handler)
    srv.requests = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def test_endpoint_evaluator_sends_chat_completions_and_parses_verdicts(server, monkeypatch):
    monkeypatch.setenv("TEST_KEY", "secret")
    url = f"http://127.0.0.1:{server.server_port}/v1"
    cfg = compose(
        [
            "recipe=smoke",
            "eval.evaluator=endpoint",
            f"eval.endpoint_url={url}",
            "eval.endpoint_model=judge-1",
            "eval.endpoint_key_env=TEST_KEY",
        ]
    )
    items = [{"id": str(i), "prompt": f"<q{i}>", "response_a": "4", "response_b": "5"} for i in range(12)]
    out = EndpointEvaluator(cfg).pairwise(items)  # 8 requests in flight: answers come back in the items' order
    assert out == [{"id": str(i), "verdict": "A", "raw": "A is more helpful.\nVerdict: A"} for i in range(12)]
    for auth, body in server.requests:
        assert auth == "Bearer secret" and body["model"] == "judge-1" and body["temperature"] == 0
    asked = [body["messages"][0]["content"] for _, body in server.requests]
    assert all(sum(f"<q{i}>" in text for text in asked) == 1 for i in range(12)) and len(asked) == 12


def test_unreachable_endpoint_is_a_clear_error():
    cfg = compose(
        [
            "recipe=smoke",
            "eval.evaluator=endpoint",
            "eval.endpoint_url=http://127.0.0.1:9/v1",
            "eval.endpoint_model=m",
            "eval.endpoint_retries=1",
        ]
    )
    with pytest.raises(SrlmError, match=r"127\.0\.0\.1:9/v1 failed after 1 retries: APIConnectionError"):
        EndpointEvaluator(cfg).pairwise([{"id": "x", "prompt": "p", "response_a": "a", "response_b": "b"}])


def test_endpoint_needs_url_and_model():
    with pytest.raises(SrlmError, match="endpoint_url"):
        EndpointEvaluator(compose(["recipe=smoke", "eval.evaluator=endpoint"]))


def test_preference_pairs_need_the_rewardbench_fields(tmp_path):
    f = tmp_path / "rb.jsonl"
    f.write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n')
    with pytest.raises(SrlmError, match=r"rb\.jsonl:1: missing field\(s\) subset"):
        load_preference_pairs(str(f))


# ---------------------------------------------------------------------------------------- a local model's A/B odds


def test_expected_score_verdict_odds_are_the_models_odds_of_writing_a_or_b_after_the_cue():
    """The tiny model's byte-level tokenizer writes " A" as two tokens: the odds must still be those of the verdict
    the model would write after `Verdict:` (the shared space cancels), asked with the verdict-only template."""
    import math

    from srlm.evaluation.evaluators import PAIR_FIELDS, VERDICT_TEMPLATE, Evaluator
    from srlm.inference.engines.hf import HfEngine
    from srlm.models.tiny import tiny_checkpoint
    from srlm.rewarding.templates import fill, load_template

    engine = HfEngine(str(tiny_checkpoint()), "float32")
    assert len(engine.tokenizer(" A", add_special_tokens=False).input_ids) == 2
    item = {"prompt": "Name a prime number.", "response_a": "7 is prime.", "response_b": "9 is prime."}
    [row] = Evaluator(engine, compose(["recipe=smoke"]), "expected_score").pairwise([{"id": "x", **item}])
    asked = engine.chat(fill(load_template(str(VERDICT_TEMPLATE), PAIR_FIELDS), **item)) + "Verdict:"
    head = engine.encode([asked])[0]
    labels = [head + engine.encode([" " + label])[0] for label in "AB"]
    (log_a, _), (log_b, _) = engine.sequence_logprobs(labels, [len(head)] * 2)
    assert row["p_a"] / (row["p_a"] + row["p_b"]) == pytest.approx(1 / (1 + math.exp(log_b - log_a)), rel=1e-4)
    assert "then end with" not in load_template(str(VERDICT_TEMPLATE), PAIR_FIELDS)  # no reasoning asked first
