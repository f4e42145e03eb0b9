"""docs/api.md lists exactly the routes the published OpenAPI document describes."""

import json
import re
from pathlib import Path

from tests.support.events import rest_event

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", re.MULTILINE)


def test_every_route_in_the_openapi_document_is_in_docs_api_md(aws):
    response = aws.functions.invoke("ApiFunction", rest_event("GET", "/openapi.json"))
    assert response["statusCode"] == 200
    published = {
        (method.upper(), path)
        for path, operations in json.loads(response["body"])["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    documented = set(ROW.findall(DOC.read_text(encoding="utf-8")))
    assert published - documented == set(), "routes missing from docs/api.md"
    assert documented - published == set(), "docs/api.md lists routes that no longer exist"
