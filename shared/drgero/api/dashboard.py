"""The dashboard's static files (``GET /`` and ``GET /ui/{path}``), answered by the api function
off the web framework and without authentication (docs/dashboard.md).

Only files shipped in ``static/`` are served (a fixed set read at first use, so no path from a
request ever reaches the file system), all of them text: API Gateway's binary media types stay
off (turning them on changes every function's request bodies). Every answer carries a strict
Content-Security-Policy: scripts and styles from this origin only, no inline script, no frames,
and fetches to this origin plus, only when OIDC sign-in is configured, its token endpoint's
origin (computed from the settings: drgero.api.oidc).
URLs inside the files are relative, so the app works under a stage prefix (``/Prod/``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from drgero.api.oidc import content_security_policy
from drgero.api.raw_events import error_response
from drgero.core.errors import not_found
from drgero.core.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
ROUTES = {"/", "/ui/{proxy+}"}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Revalidate every time: file names carry no version, and a stale app would call old routes.
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=1)
def files() -> dict[str, tuple[str, str]]:
    """``{relative path: (content type, text)}`` of every servable file."""
    found = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            found[path.relative_to(STATIC_DIR).as_posix()] = (CONTENT_TYPES[path.suffix], path.read_text("utf-8"))
    return found


def _answer(status: int, content_type: str, body: str, csp: str, extra: dict[str, str] | None = None) -> dict:
    headers = {"Content-Type": content_type, "Content-Security-Policy": csp, **SECURITY_HEADERS}
    return {
        "statusCode": status,
        "headers": {**headers, **(extra or {})},
        "body": body,
    }


def dashboard_answer(event: dict, settings: Settings | None = None) -> dict | None:
    """The answer for a dashboard route (None for every other route). ``settings`` decide the
    CSP's connect-src (the OIDC token endpoint's origin when configured, drgero.api.oidc)."""
    if event.get("resource") not in ROUTES or event.get("httpMethod") not in ("GET", "HEAD"):
        return None
    csp = content_security_policy(settings)
    if event["resource"] == "/":
        # Under a stage (/Prod) the relative asset URLs need the trailing slash to resolve.
        full_path = str((event.get("requestContext") or {}).get("path") or "/")
        if not full_path.endswith("/"):
            return _answer(301, "text/plain; charset=utf-8", "", csp, {"Location": full_path + "/"})
        name = "index.html"
    else:
        name = str((event.get("pathParameters") or {}).get("proxy") or "")
    found = files().get(name)
    if found is None:  # the one error shape, like every other answer of the API
        return error_response(not_found("Dashboard file"), event)
    content_type, text = found
    return _answer(200, content_type, text, csp)


def document_dashboard_routes(schema: dict) -> None:
    """Adds the dashboard's two routes (answered before the web framework) to the document."""
    html = {"description": "The file", "content": {"text/html": {"schema": {"type": "string"}}}}
    paths = schema.setdefault("paths", {})
    paths["/"] = {
        "get": {
            "tags": ["dashboard"],
            "summary": "The dashboard (static, no authentication)",
            "operationId": "dashboard_index",
            "security": [],
            "responses": {"200": html, "301": {"description": "Adds the trailing slash under a stage prefix"}},
        }
    }
    paths["/ui/{path}"] = {
        "get": {
            "tags": ["dashboard"],
            "summary": "The dashboard's scripts, styles and images (static, no authentication)",
            "operationId": "dashboard_asset",
            "security": [],
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The file"},
                "404": {"description": "No such file", "content": {"application/json": {"schema": {}}}},
            },
        }
    }
