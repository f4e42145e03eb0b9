"""Prompt rendering: the one function runs, production inference and the demo all use.

Contract ("Prompt rendering"): ``{input}``, ``{question}`` and ``{query}`` are each replaced by
the row's input; nothing else in the prompt changes (other braces, JSON included, stay as
written). With no placeholder, the input is appended after a blank line.

Deliberately not ``str.format``: a prompt that contains JSON (``{"a": 1}``) or an unknown
placeholder (``{name}``) must come through untouched, and an input that itself contains
``{input}`` must not be expanded again (single pass).
"""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDERS = ("input", "question", "query")
_PLACEHOLDER = re.compile(r"\{(?:input|question|query)\}")


def has_placeholder(prompt: str) -> bool:
    return _PLACEHOLDER.search(prompt) is not None


def render_prompt(prompt: str, user_input: str) -> str:
    """The prompt with the input put in its place (see the module docstring)."""
    if _PLACEHOLDER.search(prompt):
        # A function replacement: the input is inserted literally (no backslash escapes).
        return _PLACEHOLDER.sub(lambda _match: user_input, prompt)
    if not prompt:
        return user_input
    # Exactly one blank line between the prompt (kept as written) and the input.
    if prompt.endswith("\n\n"):
        separator = ""
    elif prompt.endswith("\n"):
        separator = "\n"
    else:
        separator = "\n\n"
    return f"{prompt}{separator}{user_input}"


def content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list joined by newlines (as pushed
    rows' ``messages`` are read; media parts carry no text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")
        )
    return ""


def render_turns(prompt: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A chat list with the prompt applied, for a model that speaks chat (production
    inference, and runs on rows that carry ``messages``): the **last user turn** is the input
    (its text rendered into the prompt, as :func:`render_prompt`); the turns before it
    (system, earlier user and assistant turns) and after it (an assistant's tool calls and
    the tool results of a tool round trip) pass through unchanged, as turns. Without a user
    turn, the whole list is flattened into one rendered user turn."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "user"), None)
    if last is None:
        text = "\n\n".join(f"{m.get('role')}: {content_text(m.get('content'))}" for m in messages)
        return [{"role": "user", "content": render_prompt(prompt, text)}]
    user = {**messages[last], "content": render_prompt(prompt, content_text(messages[last].get("content")))}
    return [*messages[:last], user, *messages[last + 1 :]]
