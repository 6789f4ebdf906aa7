"""A demo bank login site: the page with the collector attached, and its own back end.

    python -m serving.demo --browser        # starts the scoring API and this site, prints the URL

It stands for the bank's login back end, separate from the scoring API:

* ``GET /`` serves the login page (``serving/demo_static/login.html``); the collector is
  attached to the form, and the page posts ``{"username", "password", "session"}`` with
  ``session = collector.session()`` to this site's ``POST /login``;
* ``GET /collector/...`` serves the collector: ``collector/dist/collector.min.js`` (script
  tag, ``window.BiometricsCollector``) when it has been built, else ``collector/src`` as an
  ES module;
* ``POST /login`` checks the password against the fixed demo password **here** (it is never
  forwarded), then calls the scoring API over HTTP with this site's API key (``X-API-Key``,
  from ``DEMO_SITE_API_KEY``; the key never reaches the page): while the user's profile is
  still enrolling (the first ``BIOMETRICS_MIN_ENROLL_SESSIONS`` logins, 3 by default) the
  session is enrolled (``POST /v1/users/{u}/enroll``, a demo stand-in for "after a strong
  second factor"), afterwards scored (``POST /v1/score`` with ``update_profile: true``). It
  answers the page with the decision, risk and reasons.

Settings come from ``DEMO_SITE_*`` environment variables (:class:`SiteSettings`).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]
STATIC_DIR = Path(__file__).resolve().parent / "demo_static"
COLLECTOR_DIR = ROOT / "collector"
DEMO_PASSWORD = "tie5Roanl"
"""The one password the demo back end accepts (CMU's benchmark password)."""
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+:=-]{0,127}$"  # the scoring API's user id pattern
_COLLECTOR_PLACEHOLDER = "<!-- COLLECTOR -->"


class SiteSettings(BaseSettings):
    """The demo site's own settings (``DEMO_SITE_*``); the API key stays on the server."""

    model_config = SettingsConfigDict(env_prefix="DEMO_SITE_", extra="ignore", frozen=True)

    api_url: str = Field("http://127.0.0.1:8000", description="base URL of the scoring API")
    api_key: SecretStr = Field(SecretStr("dev-key"), description="this site's key for the scoring API")
    password: SecretStr = Field(SecretStr(DEMO_PASSWORD), description="the demo password the site accepts")
    collector_dir: Path = Field(COLLECTOR_DIR, description="the collector package (dist/ or src/)")
    api_timeout_s: float = Field(10.0, gt=0)


class LoginIn(BaseModel):
    """What the login page posts: the credentials and the collector's session (contract v2)."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)
    session: dict[str, Any]


def collector_tag(collector_dir: Path) -> tuple[str, Path]:
    """The tag that loads the collector, and the folder ``/collector/`` serves.

    Both forms leave ``window.BiometricsCollector`` set before the page's own module runs
    (module scripts run in document order, after classic scripts).
    """
    dist = collector_dir / "dist"
    if (dist / "collector.min.js").is_file():
        return '<script src="/collector/collector.min.js"></script>', dist
    return ('<script type="module">import * as C from "/collector/collector.js"; '
            'window.BiometricsCollector = C;</script>'), collector_dir / "src"


def _api_error(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):
        detail = "; ".join(map(str, detail))
    return str(detail or f"scoring API answered {resp.status_code}")


def create_site(settings: SiteSettings | None = None, api_transport: httpx.AsyncBaseTransport | None = None
                ) -> FastAPI:
    """The demo site over one settings object (read from the environment when not given)."""
    settings = settings if settings is not None else SiteSettings()
    tag, served_dir = collector_tag(Path(settings.collector_dir))
    page = (STATIC_DIR / "login.html").read_text(encoding="utf-8").replace(_COLLECTOR_PLACEHOLDER, tag)
    password = settings.password.get_secret_value()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(base_url=settings.api_url, timeout=settings.api_timeout_s,
                                     headers={"X-API-Key": settings.api_key.get_secret_value()},
                                     transport=api_transport) as client:
            app.state.api = client
            yield

    app = FastAPI(title="Demo bank login", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def login_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/login")
    async def login(body: LoginIn) -> JSONResponse:
        if not re.fullmatch(USERNAME_PATTERN, body.username) or body.password != password:
            # No call to the scoring API: behaviour is scored only for a correct password.
            return JSONResponse({"ok": False, "error": "wrong username or password"}, status_code=401)
        api: httpx.AsyncClient = app.state.api
        user = body.username
        try:
            status_resp = await api.get(f"/v1/users/{user}")
            if status_resp.status_code == 404:
                enrolling = True
            elif status_resp.status_code == 200:
                enrolling = status_resp.json()["state"] == "enrolling"
            else:
                raise HTTPException(502, _api_error(status_resp))
            if enrolling:
                resp = await api.post(f"/v1/users/{user}/enroll", json={"session": body.session})
            else:
                resp = await api.post("/v1/score", json={"user_id": user, "session": body.session,
                                                         "update_profile": True})
        except httpx.HTTPError as err:
            raise HTTPException(502, f"scoring API unreachable ({type(err).__name__})") from None
        if resp.status_code == 422:
            # A session the API refuses (too little data, bot-like, replayed): step up instead.
            return JSONResponse({"ok": True, "phase": "enroll" if enrolling else "score",
                                 "decision": "challenge", "risk": None, "reasons": [],
                                 "message": _api_error(resp)})
        if resp.status_code != 200:
            raise HTTPException(502, _api_error(resp))
        out = resp.json()
        if enrolling:
            done = out["sessions"]
            need = out["sessions_needed"]
            msg = (f"Enrolled login {done}; {need} more before your behaviour is checked" if need
                   else f"Enrolled login {done}; your behavioural profile is complete")
            return JSONResponse({"ok": True, "phase": "enroll", "decision": "allow", "risk": None,
                                 "reasons": [], "enrollment": {"state": out["state"], "sessions": done,
                                                               "sessions_needed": need},
                                 "message": msg})
        return JSONResponse({"ok": True, "phase": "score", "decision": out["decision"],
                             "risk": out["risk"], "confidence": out["confidence"],
                             "reasons": out["reasons"],
                             "modalities": {k: v.get("probability") for k, v in out["modalities"].items()},
                             "message": {"allow": "Signed in", "challenge": "Extra verification needed",
                                         "deny": "Sign-in blocked"}[out["decision"]]})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if served_dir.is_dir():
        app.mount("/collector", StaticFiles(directory=served_dir), name="collector")
    return app


def app_from_env() -> FastAPI:
    """``uvicorn serving.demo_site:app_from_env --factory`` (settings from ``DEMO_SITE_*``)."""
    return create_site()


class _ThreadedServer:
    """uvicorn in a daemon thread (the demo and the browser tests run the site in-process)."""

    def __init__(self, app: FastAPI, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="demo-site", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 30.0
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo site did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def running_site(api_url: str, api_key: str, port: int | None = None,
                 collector_dir: Path | None = None) -> Iterator[str]:
    """The demo site on 127.0.0.1 (a free port unless given) for the block; yields its base URL."""
    from serving.launch import free_port

    port = port or free_port()
    settings = SiteSettings(api_url=api_url, api_key=SecretStr(api_key),
                            **({"collector_dir": collector_dir} if collector_dir else {}))
    with _ThreadedServer(create_site(settings), port):
        yield f"http://127.0.0.1:{port}"


def serve_browser_demo(bundle: Path, site_port: int | None = None) -> None:
    """``python -m serving.demo --browser``: the scoring API and the demo site until Ctrl-C."""
    import secrets
    import signal
    import tempfile

    from serving.launch import running_server

    api_key = secrets.token_urlsafe(24)  # known to the site's back end only
    extra = {"BIOMETRICS_USER_ID_SECRET": secrets.token_hex(32)}
    with (tempfile.TemporaryDirectory() as tmp,
          running_server(bundle, Path(tmp) / "profiles.db", {api_key: "demo-site"}, extra_env=extra) as api,
          running_site(api, api_key, site_port) as site):
        tag, _ = collector_tag(COLLECTOR_DIR)
        kind = "dist/collector.min.js" if "min.js" in tag else "src/collector.js (ES module)"
        print(f"scoring API at {api} (key known only to the site's back end)")
        print(f"collector: collector/{kind}")
        print(f"\nOpen {site}/ and sign in with any username and the password {DEMO_PASSWORD!r}:")
        print("the first 3 sign-ins enroll your typing and pointer behaviour, later ones are scored.")
        print("Ctrl-C stops both servers.")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM too stops the API child
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping")
