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
