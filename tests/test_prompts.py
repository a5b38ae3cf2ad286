"""Prompt craft: prompt_budget cuts where the pipeline cuts; prompt extension works with any chat function, stays
off without one, and a chat model that fails or answers nothing keeps the user's prompt with a message."""

import pytest

import helpers
from helpers.checks import PANDA_PROMPT
from helpers.prompts import CHAT_MODEL_ENV, chat_from_env, extend_prompt, extension_messages, prompt_budget


@pytest.fixture(scope="module")
def tokenizer():
    return helpers.load_pipeline("nano").tokenizer


def test_the_budget_cuts_where_the_pipeline_cuts(tokenizer):
    prompt = f"{PANDA_PROMPT} a red circle moving to the left on a dark background"
    budget = prompt_budget(tokenizer, prompt)
    # what diffusers' CogVideoX pipelines feed the text encoder (_get_t5_prompt_embeds)
    read = tokenizer(prompt, padding="max_length", max_length=226, truncation=True, add_special_tokens=True).input_ids
    assert read[-1] == tokenizer.eos_token_id and budget.tokens > 226
    assert tokenizer.decode(read[:-1]) == budget.read
    assert budget.dropped.endswith("a red circle moving to the left on a dark background")
    short = prompt_budget(tokenizer, "a red circle moving up on a dark background")
    assert short.dropped == "" and short.tokens < 226


def test_extension_sends_thudms_messages_and_returns_the_answer():
    sent = []
    answer = extend_prompt("a girl is on the beach", lambda messages: sent.append(messages) or '"A girl walks on sand."')
    assert answer == "A girl walks on sand."
    assert sent == [extension_messages("a girl is on the beach")]
    assert "a girl is on the beach" in sent[0][-1]["content"] and sent[0][0]["role"] == "system"


@pytest.mark.parametrize("chat, said", [(lambda m: 1 / 0, "prompt extension failed (ZeroDivisionError"),
                                        (lambda m: "   ", "gave nothing back"), (lambda m: None, "gave nothing back")])
def test_a_failing_chat_model_keeps_the_prompt_and_says_why(chat, said, capsys):
    assert extend_prompt("a cat", chat) == "a cat"
    assert said in capsys.readouterr().out


def test_extension_is_off_without_a_chat_model_and_a_missing_one_is_reported(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(CHAT_MODEL_ENV, raising=False)
    assert chat_from_env() is None
    monkeypatch.setenv(CHAT_MODEL_ENV, str(tmp_path / "no-such-chat-model"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    chat = chat_from_env()
    assert extend_prompt("a cat", chat) == "a cat"
    assert "prompt extension failed" in capsys.readouterr().out
