"""Writes the generated sections of docs/api.md: the route table (from the OpenAPI document the
API publishes) and the error-code table (from :mod:`drgero.core.error_codes`).

    .venv/bin/python -m drgero_ops.reference          # rewrite docs/api.md in place
    .venv/bin/python -m drgero_ops.reference --check  # exit 1 if docs/api.md is out of date

Each generated section sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``
lines; the prose around them is hand-written and kept. A developer tool: no function imports
it, and it touches no AWS (building the app creates no client).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drgero.core.error_codes import ERROR_CODES, ErrorCode

METHODS = ("get", "post", "put", "patch", "delete")
DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_SECTION = re.compile(r"(<!-- generated: (\w+) -->\n).*?(<!-- end generated -->)", re.DOTALL)


def render_routes(openapi: Mapping[str, Any]) -> str:
    """One row per operation, by path, in the document's method order."""
    rows = ["| method | path | what |", "|---|---|---|"]
    for path in sorted(openapi["paths"]):
        for method, operation in openapi["paths"][path].items():
            if method in METHODS:
                rows.append(f"| {method.upper()} | `{path}` | {operation.get('summary', '')} |")
    return "\n".join(rows) + "\n"


def render_error_codes(codes: Mapping[str, ErrorCode] = ERROR_CODES) -> str:
    """One row per code, by code."""
    rows = ["| code | HTTP status | when |", "|---|---|---|"]
    for code in sorted(codes):
        entry = codes[code]
        rows.append(f"| `{code}` | {', '.join(str(s) for s in entry.statuses)} | {entry.meaning} |")
    return "\n".join(rows) + "\n"


def update(text: str, sections: Mapping[str, str]) -> str:
    """``text`` with every generated section replaced; a section it lacks is an error."""
    missing = set(sections) - set(m.group(2) for m in _SECTION.finditer(text))
    if missing:
        raise ValueError(f"docs/api.md has no generated section(s) {sorted(missing)}")

    def replace(match: re.Match[str]) -> str:
        return match.group(1) + sections[match.group(2)] + match.group(3)

    return _SECTION.sub(replace, text)


def sections(openapi: Mapping[str, Any]) -> dict[str, str]:
    return {"routes": render_routes(openapi), "errors": render_error_codes()}


def published_openapi() -> dict[str, Any]:
    """The OpenAPI document GET /openapi.json serves, built in-process with default settings."""
    from drgero.api.app import create_app
    from drgero.core.aws import AwsClients
    from drgero.core.settings import Settings

    settings = Settings()
    return create_app(settings, AwsClients(settings)).openapi()


def main(argv: list[str] | None = None, openapi: Callable[[], dict[str, Any]] = published_openapi) -> int:
    argv = sys.argv[1:] if argv is None else argv
    current = DOC.read_text(encoding="utf-8")
    wanted = update(current, sections(openapi()))
    if "--check" in argv:
        if wanted != current:
            print("docs/api.md is out of date: run .venv/bin/python -m drgero_ops.reference", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
