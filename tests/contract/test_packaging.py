"""The Lambda dependencies layer ships exactly the runtime dependencies pyproject.toml declares,
pinned to the versions of requirements.lock (what passed the tests)."""

import tomllib
from pathlib import Path

from drgero_ops.lock import read_pins, split_requirement

ROOT = Path(__file__).resolve().parents[2]


def _requirements(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_layer_requirements_are_the_runtime_dependencies_pinned_to_the_lock():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = _requirements(ROOT / "layers/deps/requirements.txt")
    lock = read_pins((ROOT / "requirements.lock").read_text())
    # Same names and extras as pyproject declares.
    assert sorted(split_requirement(line)[:2] for line in layer) == sorted(split_requirement(d)[:2] for d in declared)
    for line in layer:
        name, _extras, spec = split_requirement(line)
        assert spec.startswith("==") and not spec.startswith("==="), f"{line}: the layer pins exact versions"
        assert spec[2:] == lock.get(name), f"{line}: requirements.lock has {name}=={lock.get(name)}"


def test_the_lock_pins_every_package_exactly_and_moto_as_pyproject_does():
    lines = _requirements(ROOT / "requirements.lock")
    assert lines and all("==" in line for line in lines)
    lock = read_pins("\n".join(lines))
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    moto = next(d for d in dev if split_requirement(d)[0] == "moto")
    # The local cloud patches moto's behaviour: pyproject pins it exactly, to the locked version.
    assert split_requirement(moto)[2] == f"=={lock['moto']}"


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
