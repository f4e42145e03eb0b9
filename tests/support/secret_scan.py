"""Suite-wide secret scan: after every test phase, the captured stdout, stderr and log
records (Powertools JSON logs included) must not contain a credential or provider key.

Our token formats exist partly so scanners can recognise them; this is that scanner, run on
the whole suite. Wired in tests/conftest.py by importing the hook below.
"""

from __future__ import annotations

import re

import pytest

SECRET_PATTERNS = {
    "API or dataset token": re.compile(r"\b(?:drgero|hpd)_[0-9A-Za-z]{38}\b"),
    "invitation code": re.compile(r"\binv_[0-9A-Za-z]{38}\b"),
    "session JWT": re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}"),
    "OpenRouter key": re.compile(r"\bsk-or-v1-[\w-]{8,}"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
}


def find_secrets(text: str) -> list[str]:
    return [f"{name}: {m.group(0)[:12]}…" for name, rx in SECRET_PATTERNS.items() for m in rx.finditer(text)]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    captured = "\n".join(content for title, content in report.sections if title.startswith("Captured"))
    leaks = find_secrets(captured)
    if leaks and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = (
            f"secret material in captured output during {report.when}: {sorted(set(leaks))}. "
            "Never log or print tokens, JWTs, invitation codes or provider keys."
        )
