"""docs/api.md's generated sections (routes, error codes) are what drgero_ops.reference writes."""

import pytest

from drgero.core.error_codes import ERROR_CODES
from drgero_ops import reference


def test_docs_api_md_is_up_to_date_with_the_openapi_document_and_the_error_registry():
    current = reference.DOC.read_text(encoding="utf-8")
    wanted = reference.update(current, reference.sections(reference.published_openapi()))
    assert current == wanted, "docs/api.md is out of date: run .venv/bin/python -m drgero_ops.reference"


def test_the_error_table_has_one_row_per_registered_code():
    table = reference.render_error_codes()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(ERROR_CODES)
    assert all(line.count("|") == 4 for line in rows), "a cell holds a '|' and breaks the table"


def test_update_keeps_the_prose_and_refuses_a_document_without_the_section():
    text = "intro\n<!-- generated: errors -->\nold\n<!-- end generated -->\noutro\n"
    assert reference.update(text, {"errors": "new\n"}) == (
        "intro\n<!-- generated: errors -->\nnew\n<!-- end generated -->\noutro\n"
    )
    with pytest.raises(ValueError, match="routes"):
        reference.update(text, {"errors": "new\n", "routes": "x\n"})


def test_check_mode_reports_a_stale_document(tmp_path, monkeypatch):
    stale = tmp_path / "api.md"
    stale.write_text(
        "<!-- generated: routes -->\n<!-- end generated -->\n<!-- generated: errors -->\n<!-- end generated -->\n"
    )
    monkeypatch.setattr(reference, "DOC", stale)
    openapi = {"paths": {"/v1/health": {"get": {"summary": "Liveness check"}}}}
    assert reference.main(["--check"], openapi=lambda: openapi) == 1
    assert reference.main([], openapi=lambda: openapi) == 0
    assert "| GET | `/v1/health` | Liveness check |" in stale.read_text()
    assert reference.main(["--check"], openapi=lambda: openapi) == 0
