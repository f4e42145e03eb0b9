"""The error-code registry (drgero.core.error_codes) lists exactly the codes the API answers with.

The codes are found in the source, not in the registry's own word:

- an AST scan of ``shared/`` and ``functions/`` for ``ApiError(status, code, ...)`` calls, calls
  of helper functions that pass one of their parameters on as the code (``bad_request(...,
  code=...)``, ``conflict(code, ...)``, ``limit_error("daily", ...)``), the ``code``/``status``
  class attributes of exception classes (the provider errors), and the authorizer's refusals
  (``Denied``/``SessionError``, rendered by the ACCESS_DENIED gateway response);
- the gateway responses of ``template.yaml``;
- a short list of codes the scan cannot see, each with the file that must spell it.

Both directions are checked, code by code and status by status, so the table in docs/api.md
(generated from the registry) cannot list a code nobody raises, or miss one.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from drgero.core.error_codes import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [ROOT / "shared", ROOT / "functions"]

# Exceptions whose first argument is a code the authorizer denies with; API Gateway renders
# them with the ACCESS_DENIED gateway response (its status).
AUTHORIZER_DENIALS = {"Denied", "SessionError"}

# Codes chosen at run time from data the scan cannot follow: (code, status, file that spells it).
SEEN_BY_HAND = [
    # Starlette's own HTTP errors, mapped by the FastAPI app's handler (codes.get(status, ...)).
    ("method_not_allowed", 405, "shared/drgero/api/app.py"),
    ("http_error", "4xx", "shared/drgero/api/app.py"),
]

# Call sites whose code argument is not a literal, and why that is covered elsewhere.
DYNAMIC_SITES = {
    # The Starlette error handler's code, from a status -> code table: SEEN_BY_HAND.
    ("shared/drgero/api/app.py", "error_body"),
    # Re-raises a SessionError's code: the SessionError calls are scanned.
    ("shared/drgero/identity/authorizer.py", "Denied"),
    # The inference function answers a Denied's code itself (its routes have no authorizer hop)
    # with the ACCESS_DENIED status, 401: the Denied/SessionError calls are scanned.
    ("shared/drgero/api/inference_events.py", "ApiError"),
    # limit_error(kind, ...) with kind from the failed condition, "daily" or "monthly": both are
    # raised with literals elsewhere in the module.
    ("shared/drgero/datasets/push.py", "limit_error"),
    # parse(..., code=...) hands its own code on to invalid(...): parse is itself a helper whose
    # call sites are scanned (with its default, invalid_request, where none is given).
    ("shared/drgero/core/validation.py", "invalid"),
}


@dataclass(frozen=True)
class Raised:
    code: str
    status: int | str | None  # None: the status is not known at this site
    where: str


@dataclass(frozen=True)
class Helper:
    """A function that builds an ApiError whose code is one of its parameters (or a template of it)."""

    status: int | None
    code: ast.expr  # the code expression inside the helper
    params: list[str]
    defaults: dict[str, ast.expr]


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def _int(node: ast.expr | None) -> int | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, int) else None


def _render(code: ast.expr, bindings: dict[str, ast.expr]) -> str | None:
    """The code as a string, with parameters replaced by the literal they are bound to."""
    if isinstance(code, ast.Constant) and isinstance(code.value, str):
        return code.value
    if isinstance(code, ast.Name) and code.id in bindings:
        return _render(bindings[code.id], {})
    if isinstance(code, ast.JoinedStr):
        parts = []
        for value in code.values:
            if isinstance(value, ast.FormattedValue):
                value = value.value
            part = _render(value, bindings)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    return None


def _code_params(code: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(code) if isinstance(node, ast.Name)}


def _modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
        for base in SCANNED
        for path in sorted(base.rglob("*.py"))
    }


def _helpers(modules: dict[str, ast.Module]) -> tuple[dict[tuple[str, str], Helper], set[int]]:
    """Functions returning an ApiError built from a parameter, by (module, name), and the ids
    of those ApiError calls (resolved at the helpers' call sites instead)."""
    helpers: dict[tuple[str, str], Helper] = {}
    inside: set[int] = set()
    for where, tree in modules.items():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            # ``self``: an exception class's own code attribute, scanned with the classes.
            params = [a.arg for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs if a.arg != "self"]
            positional = func.args.posonlyargs + func.args.args
            first_default = len(positional) - len(func.args.defaults)
            defaults = {a.arg: d for a, d in zip(positional[first_default:], func.args.defaults, strict=True)}
            defaults |= {a.arg: d for a, d in zip(func.args.kwonlyargs, func.args.kw_defaults, strict=True) if d}
            for call in ast.walk(func):
                if isinstance(call, ast.Call) and _name(call.func) == "ApiError":
                    code = _arg(call, 1, "code")
                    if code is not None and _code_params(code) & set(params):
                        helpers[(where, func.name)] = Helper(_int(_arg(call, 0, "status")), code, params, defaults)
                        inside.add(id(call))
    return helpers, inside


def _helper_for(helpers: dict[tuple[str, str], Helper], defined: set[str], where: str, name: str) -> Helper | None:
    """The helper a call of ``name`` in module ``where`` reaches: the module's own function of
    that name if it has one, else the one helper of that name elsewhere (an import)."""
    if name in defined:
        return helpers.get((where, name))
    candidates = [helper for (_, helper_name), helper in helpers.items() if helper_name == name]
    assert len(candidates) <= 1, f"{where} calls {name}, a name several modules define as a code helper"
    return candidates[0] if candidates else None


def _bind(helper: Helper, call: ast.Call) -> dict[str, ast.expr]:
    bindings = dict(helper.defaults)
    bindings.update(zip(helper.params, call.args, strict=False))
    bindings.update({kw.arg: kw.value for kw in call.keywords if kw.arg})
    return bindings


def _error_classes(modules: dict[str, ast.Module]) -> dict[str, tuple[list[str], dict[str, object]]]:
    """Exception classes with class attributes: name -> (base names, {code/status: value})."""
    classes = {}
    for tree in modules.values():
        for cls in ast.walk(tree):
            if not isinstance(cls, ast.ClassDef):
                continue
            attrs = {}
            for statement in cls.body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = statement.targets[0]
                    if isinstance(target, ast.Name) and target.id in {"code", "status"}:
                        if isinstance(statement.value, ast.Constant):
                            attrs[target.id] = statement.value.value
            classes[cls.name] = ([b for b in map(_name, cls.bases) if b], attrs)
    return classes


def _class_attr(classes: dict, name: str, attr: str) -> object:
    bases, attrs = classes[name]
    if attr in attrs:
        return attrs[attr]
    for base in bases:
        if base in classes:
            value = _class_attr(classes, base, attr)
            if value is not None:
                return value
    return None


def _gateway_responses() -> dict[str, tuple[str | None, int | None]]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    responses = {}
    for resource in template["Resources"].values():
        for kind, response in (resource.get("Properties", {}).get("GatewayResponses") or {}).items():
            body = response["ResponseTemplates"]["application/json"]
            match = re.search(r'"code": "([a-z_]+)"', body)
            responses[kind] = (match.group(1) if match else None, response.get("StatusCode"))
    return responses


def _access_denied_status() -> int:
    return _gateway_responses()["ACCESS_DENIED"][1]


def raised_codes() -> tuple[list[Raised], list[tuple[str, str]]]:  # noqa: C901 - one walk listing every way code raises an error
    """Every code the scan finds, and the call sites whose code it cannot resolve."""
    modules = _modules()
    helpers, inside_helpers = _helpers(modules)
    classes = _error_classes(modules)
    found: list[Raised] = []
    unresolved: list[tuple[str, str]] = []
    for where, tree in modules.items():
        defined = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            helper = _helper_for(helpers, defined, where, name) if name else None
            if name in {"ApiError", "error_body"}:
                # error_body(code, message, ...) answers with a status the scan does not see.
                is_api_error = name == "ApiError"
                code = _arg(node, 1, "code") if is_api_error else _arg(node, 0, "code")
                status = _int(_arg(node, 0, "status")) if is_api_error else None
                text = _render(code, {}) if code is not None else None
                if text is not None:
                    found.append(Raised(text, status, f"{where}:{node.lineno}"))
                elif id(node) in inside_helpers or (code is not None and "self" in _code_params(code)):
                    # A helper's parameter (resolved at its call sites) or an exception class's
                    # own code attribute (scanned with the classes).
                    continue
                else:
                    unresolved.append((where, name))
            elif helper is not None:
                text = _render(helper.code, _bind(helper, node))
                if text is None:
                    unresolved.append((where, name))
                else:
                    found.append(Raised(text, helper.status, f"{where}:{node.lineno}"))
            elif name in AUTHORIZER_DENIALS:
                text = _render(node.args[0], {}) if node.args else None
                if text is None:
                    unresolved.append((where, name))
                else:
                    found.append(Raised(text, _access_denied_status(), f"{where}:{node.lineno}"))
    for name, (_, attrs) in classes.items():
        if isinstance(attrs.get("code"), str):
            found.append(Raised(attrs["code"], _class_attr(classes, name, "status"), f"class {name}"))
    for kind, (code, status) in _gateway_responses().items():
        if code is not None:
            found.append(Raised(code, status or {"DEFAULT_4XX": "4xx", "DEFAULT_5XX": "5xx"}[kind], f"template {kind}"))
    for code, status, where in SEEN_BY_HAND:
        assert f'"{code}"' in (ROOT / where).read_text(encoding="utf-8"), f"{code} no longer appears in {where}"
        found.append(Raised(code, status, where))
    return found, unresolved


def test_the_scan_resolves_every_call_site_but_the_known_dynamic_ones():
    _, unresolved = raised_codes()
    assert set(unresolved) == DYNAMIC_SITES


def test_every_code_the_api_raises_is_in_the_registry_with_its_status():
    found, _ = raised_codes()
    missing = sorted({r.code for r in found} - set(ERROR_CODES))
    assert missing == [], f"add these codes to drgero/core/error_codes.py: {missing}"
    wrong = [r for r in found if r.status is not None and r.status not in ERROR_CODES[r.code].statuses]
    assert wrong == [], "a code is raised with a status its registry entry does not list"


def test_every_registered_code_and_status_is_still_raised():
    found, _ = raised_codes()
    statuses: dict[str, set] = defaultdict(set)
    for r in found:
        statuses[r.code].add(r.status)
    unused = sorted(set(ERROR_CODES) - set(statuses))
    assert unused == [], f"registered codes nobody raises: {unused}"
    stale = {
        code: sorted(set(entry.statuses) - statuses[code], key=str)
        for code, entry in ERROR_CODES.items()
        if set(entry.statuses) - statuses[code]
    }
    assert stale == {}, "registered statuses no call site uses"


def test_every_registry_entry_says_when_it_happens():
    for code, entry in ERROR_CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert entry.statuses, code
        assert entry.meaning.strip().endswith("."), code
