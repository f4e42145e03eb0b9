"""The README's quick start and the ``make local`` banner say the same next three things."""

from __future__ import annotations

from pathlib import Path

from drgero_ops.local import next_steps

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_quick_start_names_the_banners_next_steps():
    steps = "\n".join(next_steps("http://127.0.0.1:3000", Path(".drgero/local.json")))
    assert "1. open the dashboard:  http://127.0.0.1:3000/" in steps
    assert "1. open the dashboard: <http://127.0.0.1:3000/>" in README
    assert "curl -H" in steps and "/api/leaderboards" in steps
    assert 'curl -s http://127.0.0.1:3000/api/leaderboards -H "Authorization: Bearer $TOKEN"' in README
    assert "3. the whole tour:      make demo" in steps
    assert "3. `make demo`" in README
