"""Reads template.yaml (the single source of truth) into plain Python data.

CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...) are turned into their long form
({"Ref": ...}, {"Fn::GetAtt": [...]}, ...) so the rest of the local cloud can resolve them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short-form intrinsic functions."""


def _make_constructor(tag: str):
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Not",
    "Equals",
    "Select",
    "Split",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "And",
    "Or",
    "Condition",
    "Base64",
):
    _CfnLoader.add_constructor(f"!{_tag}", _make_constructor(_tag))


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Template:
    """Convenience views over the parsed template."""

    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH) -> Template:
        return cls(load_template(path))

    @cached_property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.data.get("Resources", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}

    @cached_property
    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Serverless::Function")

    @cached_property
    def global_env(self) -> dict[str, Any]:
        return self.data.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})

    def parameter_defaults(self) -> dict[str, Any]:
        return {k: v.get("Default") for k, v in self.data.get("Parameters", {}).items()}
