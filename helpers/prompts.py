"""Prompt craft for CogVideoX: what of a prompt the model reads, and THUDM's prompt extension with a chat model.

CogVideoX reads the first 226 T5 tokens of a prompt (``max_sequence_length``) and drops the rest;
it was trained on long, detailed English captions, so THUDM extends a short idea into one with a chat
model (``inference/convert_demo.py`` in THUDM/CogVideo, Apache-2.0: its system prompt is quoted
below). Extension is off unless you bring a chat model: nothing here downloads anything.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

from .checks import MAX_PROMPT_TOKENS

#: THUDM's system prompt for text-to-video extension (THUDM/CogVideo, inference/convert_demo.py, Apache-2.0).
THUDM_T2V_SYSTEM_PROMPT = """You are part of a team of bots that creates videos. You work with an assistant bot that will draw anything you say in square brackets.

For example , outputting " a beautiful morning in the woods with the sun peaking through the trees " will trigger your partner bot to output an video of a forest morning , as described. You will be prompted by people looking to create detailed , amazing videos. The way to accomplish this is to take their short prompts and make them extremely detailed and descriptive.
There are a few rules to follow:

You will only ever output a single video description per user request.

When modifications are requested , you should not simply make the description longer . You should refactor the entire description to integrate the suggestions.
Other times the user will not want modifications , but instead want a new image . In this case , you should ignore your previous conversation with the user.

Video descriptions must have the same num of words as examples below. Extra words will be ignored.
"""
#: The environment variable naming a transformers chat model (a hub id or folder) for :func:`chat_from_env`.
CHAT_MODEL_ENV = "COGVIDEOX_CHAT_MODEL"


@dataclass(frozen=True)
class Budget:
    """What of a prompt CogVideoX reads: ``tokens`` in all, the ``read`` text and the ``dropped`` text."""

    tokens: int
    read: str
    dropped: str


def prompt_budget(tokenizer, prompt: str, limit: int = MAX_PROMPT_TOKENS) -> Budget:
    """Split ``prompt`` where the pipeline cuts it: it reads ``limit`` tokens, the last of them the end-of-text
    token, so the first ``limit - 1`` of the prompt's own are read and the rest dropped.

    Example:
        >>> import helpers
        >>> from helpers.prompts import prompt_budget
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> budget = prompt_budget(pipe.tokenizer, "a red circle moving up on a dark background " * 30)
        >>> budget.tokens > 226, budget.dropped[:24]
        (True, 'a red circle moving up o')
    """
    ids = tokenizer(prompt, add_special_tokens=False).input_ids
    return Budget(len(ids), tokenizer.decode(ids[:limit - 1]), tokenizer.decode(ids[limit - 1:]))


def extension_messages(idea: str) -> list[dict]:
    """The chat messages THUDM sends to extend ``idea`` into a detailed caption (without its few-shot examples).

    Example:
        >>> from helpers.prompts import extension_messages
        >>> [m["role"] for m in extension_messages("a girl on the beach")]
        ['system', 'user']
    """
    return [{"role": "system", "content": THUDM_T2V_SYSTEM_PROMPT},
            {"role": "user", "content": "Create an imaginative video descriptive caption or modify an earlier caption "
                                        f'in ENGLISH for the user input: " {idea} "'}]


def extend_prompt(idea: str, chat: Callable[[list[dict]], str]) -> str:
    """``idea`` extended by ``chat`` (a function from THUDM's messages to the model's answer), or ``idea`` itself
    with a printed note when the chat model fails or answers nothing (as THUDM's script falls back).

    Example:
        >>> from helpers.prompts import extend_prompt
        >>> extend_prompt("a cat", lambda messages: "  A grey cat naps in the sun.  ")
        'A grey cat naps in the sun.'
        >>> extend_prompt("a cat", lambda messages: "")
        prompt extension gave nothing back: keeping your prompt.
        'a cat'
    """
    try:
        answer = chat(extension_messages(idea))
    except Exception as e:  # any chat model or API: its own errors (network, key, memory)
        print(f"prompt extension failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): keeping your "
              f"prompt. Check the chat model (${CHAT_MODEL_ENV}: a hub id or folder you have) or your API key.")
        return idea
    answer = answer.strip().strip('"').strip() if isinstance(answer, str) else ""
    if not answer:
        print("prompt extension gave nothing back: keeping your prompt.")
        return idea
    return answer


def chat_from_env(max_new_tokens: int = 250) -> Callable[[list[dict]], str] | None:
    """A chat function from the transformers model named by ``$COGVIDEOX_CHAT_MODEL`` (a hub id or a folder, loaded
    on first use), or ``None`` when it is not set: prompt extension stays off.

    Example:
        >>> from helpers.prompts import chat_from_env
        >>> chat_from_env() is None  # not set here
        True
    """
    name = os.environ.get(CHAT_MODEL_ENV, "").strip()
    if not name:
        return None
    generator = None

    def chat(messages: list[dict]) -> str:
        nonlocal generator
        if generator is None:
            from transformers import pipeline

            generator = pipeline("text-generation", model=name)
        reply = generator(messages, max_new_tokens=max_new_tokens, do_sample=False)[0]["generated_text"]
        return reply[-1]["content"] if isinstance(reply, list) else str(reply)

    return chat
