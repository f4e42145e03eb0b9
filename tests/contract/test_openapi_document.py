"""The published OpenAPI document describes the API truthfully: it validates (OpenAPI 3.1),
every $ref resolves, no operation lists FastAPI's default 422 (the API answers bad input with
400), and every operation documents its real error answers with the contract's error shape."""

from __future__ import annotations

import json
import re

from openapi_spec_validator import validate

from tests.support.gateway import Api
from tests.support.route_matrix import openapi_document

ERROR_REF = "#/components/schemas/ErrorResponse"


def test_the_document_validates_and_every_ref_resolves(aws):
    doc = openapi_document(Api(aws))
    validate(doc)
    text = json.dumps(doc)
    assert "$defs" not in text
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


def test_no_default_422_and_every_error_answer_is_documented(aws):
    doc = openapi_document(Api(aws))
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    problems = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            public = (method, path) in {("get", "/v1/health"), ("get", "/openapi.json"), ("get", "/api/auth/config")}
            needed = {"500"} if public else {"400", "401", "403", "404", "429", "500"}
            if method != "get" and not public:
                needed.add("409")
            if "requestBody" in operation:
                needed.add("413")
            missing = needed - set(responses)
            if missing:
                problems.append(f"{method.upper()} {path} lacks {sorted(missing)}")
            if "422" in responses and "HTTPValidationError" in json.dumps(responses["422"]):
                problems.append(f"{method.upper()} {path} documents FastAPI's 422")
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                    if schema.get("$ref") not in (ERROR_REF, "#/components/schemas/OpenAIStyleError"):
                        problems.append(f"{method.upper()} {path} {status} is not the error schema: {schema}")
    assert not problems, "\n".join(problems)
    push = doc["paths"]["/v1/leaderboard/{id}/dataset/push"]["post"]["responses"]
    assert "422" in push  # a real one (idempotency_key_reused) stays
    assert {"402", "502"} <= set(doc["paths"]["/api/leaderboards/{id}/runs"]["post"]["responses"])
    error = doc["components"]["schemas"]["ErrorResponse"]["properties"]["error"]
    assert set(error["properties"]) == {"code", "message", "type", "param", "details", "request_id"}
