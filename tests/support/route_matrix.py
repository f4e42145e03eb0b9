"""Drives every route of the published OpenAPI document, for the tenant-isolation and scope
matrices. Routes added later are covered automatically; what they need from their authors:

- request models with an example (``model_config = ConfigDict(json_schema_extra={"examples":
  [...]})``) or a schema simple enough to generate a valid body from (required fields,
  enums, min lengths);
- collections created by ``POST /api/{collection}`` (or ``POST /api/{collection}/{id}/{sub}``)
  answering 2xx with an ``id`` (or ``*_id``), so the matrix can build real resources of
  workspace A and put their ids into paths.

A path parameter is filled from the literal segment before it (``/api/runs/{run_id}`` takes
a run id of workspace A); when A has no such resource, a made-up id is used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from drgero.identity import credentials
from drgero.workspaces import invitations
from drgero.workspaces import membership as workspaces

from .aws import table_of
from .gateway import Api
from .identity import new_workspace

PARAM = re.compile(r"\{([^}]+)\}")
# Path parameters that are not tenant resources: every workspace has its own "openrouter".
NOT_TENANT_RESOURCES = {"integration", "provider"}
UNAUTHENTICATED = {("GET", "/v1/health"), ("GET", "/openapi.json"), ("GET", "/"), ("GET", "/ui/{path}")}
UNAUTHENTICATED |= {("GET", "/api/auth/config")}


def singular(segment: str) -> str:
    segment = segment.lower()
    return segment[:-1] if segment.endswith("s") else segment


@dataclass
class Route:
    method: str
    path: str
    operation: dict

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def segment_before(self, param: str) -> str:
        parts = self.path.split("/")
        index = parts.index("{" + param + "}")
        return singular(parts[index - 1]) if index > 0 else param

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def openapi_document(api: Api) -> dict:
    response = api.get("/openapi.json")
    assert response.status == 200, response.body
    return response.json


def routes(doc: dict) -> list[Route]:
    found = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                if (method.upper(), path) not in UNAUTHENTICATED:
                    found.append(Route(method.upper(), path, operation))
    # Deletions last, deepest first, so they do not take away what other routes use.
    return sorted(found, key=lambda r: (r.method == "DELETE", -r.path.count("/") if r.method == "DELETE" else 0))


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


# One ladder over JSON Schema keywords in precedence order (example, default, const, enum,
# combinators, then type); split up, the precedence would no longer read top to bottom.
def example_value(doc: dict, schema: dict) -> Any:  # noqa: C901
    """A valid value for ``schema``: its example if it has one, else a generated one."""
    schema = _resolve(doc, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(doc, s).get("type") != "null"]
            return example_value(doc, options[0]) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: example_value(doc, props[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example_value(doc, schema.get("items", {})) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return float(max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1))
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    if schema.get("format") == "email":
        return "someone@example.com"
    return "x" * max(1, int(schema.get("minLength", 1)))


def example_body(doc: dict, route: Route) -> Any:
    body = route.operation.get("requestBody")
    if not body:
        return None
    return example_value(doc, body["content"]["application/json"]["schema"])


def _id_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("id"), str):
        return data["id"]
    return next((v for k, v in data.items() if k.endswith("_id") and isinstance(v, str)), None)


@dataclass
class World:
    """Two workspaces; A has one resource of every kind the API can create."""

    api: Api
    doc: dict
    a: dict
    b: dict
    ids: dict[str, str] = field(default_factory=dict)  # singular collection name -> an id of A

    def fill(self, route: Route) -> tuple[str, bool, bool]:
        """The concrete path, whether it names a real tenant resource of A, and whether some
        parameter had to be made up."""
        path, real, made_up = route.path, False, False
        for param in route.params:
            kind = route.segment_before(param)
            value = self.ids.get(kind)
            if value is None:
                value, made_up = f"{kind.replace('-', '')}_0000000000000000000000000", True
            elif kind not in NOT_TENANT_RESOURCES:
                real = True
            path = path.replace("{" + param + "}", value, 1)
        return path, real, made_up


def build_world(aws: Any) -> World:
    api = Api(aws)
    doc = openapi_document(api)
    table = table_of(aws)
    a = new_workspace(aws, "alpha", owner="owner-a")
    b = new_workspace(aws, "beta", owner="owner-b")
    ws = a["workspace_id"]
    _, other_token = credentials.issue_api_token(table, ws, "second", {"leaderboards:read"})
    workspaces.add_member(table, ws, "member-a", "member", "owner", email="member-a@example.com")
    world = World(api, doc, a, b)
    pending = invitations.invite_user(table, aws.settings, ws, "invitee-a", "member", "owner-a", "owner")
    world.ids.update(
        workspace=ws, token=other_token["id"], member="member-a", integration="openrouter", invitation=pending["id"]
    )
    world.ids["provider"] = "openrouter"
    # (Keys are assembled, never literal in a call: tracebacks show source lines.)
    key_a = "sk-or-v1-" + "workspace-a-secret-key"
    api.put("/api/integrations/openrouter", a["token"], {"api_key": key_a})
    # Everything else A can create through the API: top-level collections, then one level
    # down. A collection is a POST on a path whose items are addressable ({path}/{id} exists);
    # that excludes actions such as POST /api/tokens/{id}/rotate.
    addressable = {re.sub(r"/\{[^}]+\}$", "", path) for path in doc["paths"] if path.endswith("}")}
    for depth in (1, 2):
        for route in routes(doc):
            parts = route.path.strip("/").split("/")
            if route.method != "POST" or parts[0] not in ("api", "v1") or route.path not in addressable:
                continue
            if depth == 1 and len(parts) == 2 and not route.params:
                kind = singular(parts[1])
            elif depth == 2 and len(parts) == 4 and PARAM.fullmatch(parts[2]):
                kind = singular(parts[3])
            else:
                continue
            if kind in world.ids or kind in {"workspace", "token", "invitation"}:
                continue
            path, _, made_up = world.fill(route)
            if made_up:
                continue
            response = api.post(path, a["token"], example_body(doc, route))
            if 200 <= response.status < 300 and _id_of(response.json):
                world.ids[kind] = _id_of(response.json)
    return world


def snapshot_of(aws: Any, world: World) -> dict:
    """Every item and object of workspace A (by any id of A appearing in it)."""
    markers = {world.a["workspace_id"], *[v for k, v in world.ids.items() if k not in NOT_TENANT_RESOURCES]}
    client = aws.clients.dynamodb
    items = {}
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=aws.settings.aws.table_name):
        for item in page["Items"]:
            text = json.dumps(item, sort_keys=True, default=str)
            if any(m in text for m in markers):
                items[(item["pk"]["S"], item["sk"]["S"])] = text
    objects = {}
    for page in aws.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=aws.settings.aws.bucket_name):
        for obj in page.get("Contents", []):
            if any(m in obj["Key"] for m in markers):
                objects[obj["Key"]] = obj["ETag"]
    return {"items": items, "objects": objects}
