"""The Lambda dependencies layer ships exactly the runtime dependencies pyproject.toml declares."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_layer_requirements_match_pyproject_dependencies():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [
        line.strip()
        for line in (ROOT / "layers/deps/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(layer) == sorted(declared)


def test_samplecfg_documents_every_setting():
    """Every Settings field appears in samplecfg.toml: as a key with its default, or, for a
    setting whose default is unset (TOML has no null), as a commented `# name = …` line."""
    import re

    from drgero.core.settings import Settings

    text = (ROOT / "samplecfg.toml").read_text()
    parsed = tomllib.loads(text)
    missing = []
    for group, field in Settings.model_fields.items():
        fields = getattr(field.annotation, "model_fields", None)
        names = [(group, sub) for sub in fields] if fields else [(None, group)]
        for section, name in names:
            present = name in (parsed.get(section, {}) if section else parsed)
            if not present and not re.search(rf"^# {re.escape(name)} = ", text, re.MULTILINE):
                missing.append(f"{section}.{name}" if section else name)
    assert missing == []
