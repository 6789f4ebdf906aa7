"""``/docs``: Swagger UI served from this process, so it works offline.

FastAPI's default page loads Swagger UI from a CDN, and is blank without one. The assets
come from the installed ``swagger-ui-py`` package (Swagger UI 5, which reads OpenAPI 3.1)
and are served under ``/docs/assets``; the page references nothing outside this server.
ReDoc (CDN only) is off.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
#: The files the page loads (all in the package's static folder).
JS, CSS, FAVICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"


def swagger_ui_dir() -> Path:
    """The static folder of the installed ``swagger-ui-py`` package (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: pip install -e . installs it")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [f for f in (JS, CSS, FAVICON) if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py at {folder} lacks {', '.join(missing)}; reinstall it")
    return folder


def add_docs(app: FastAPI) -> None:
    """Mount the Swagger UI assets and the ``/docs`` page that uses them."""
    app.mount(ASSETS_URL, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui-assets")
    # validatorUrl null: Swagger UI would otherwise send the spec's URL to validator.swagger.io.
    parameters = {**swagger_ui_default_parameters, "validatorUrl": None}

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - docs",
                                   swagger_js_url=f"{root}{ASSETS_URL}/{JS}",
                                   swagger_css_url=f"{root}{ASSETS_URL}/{CSS}",
                                   swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
                                   swagger_ui_parameters=parameters)
