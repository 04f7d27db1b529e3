"""The pages' Starlette app, mounted by the service at /pages (serving/service.py).

    GET  /pages/funnel | tonight | lead/{lead_id} | health    the pages (HTML shells)
    GET  /pages/api/funnel | tonight | tonight.csv | lead/{lead_id} | health    their data
    GET  /pages/login, POST /pages/login, POST /pages/logout   the browser session
    GET  /pages/static/…                                       scripts and styles, no data

A plain Starlette app, not FastAPI: these are pages, not API endpoints, and stay out of
/docs.json. With LEADSCORE_API_TOKEN set, every page and data endpoint answers 401 to a caller
without the token or the session cookie (serving/pages/auth.py): a page with the login form,
an endpoint the service's 4xx body. Bad parameters are a 400 naming the parameter; a lead the
store does not know is a 404. Every answer forbids content from anywhere but the service
(Content-Security-Policy), so a page cannot load or send anything elsewhere.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bentoml
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from features.store.reports import FUNNEL, MONITOR, latest_report
from serving.config import ServiceSettings
from serving.errors import Rejected, rejected
from serving.guard import api_token
from serving.pages import auth, health, queries
from serving.pages.params import list_query
from serving.pages.shell import PAGES, login_page, page
from serving.schemas import MAX_TEXT
from training.registry import Registry

STATIC = Path(__file__).parent / "static"
SECURITY = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
CSV_COLUMNS = (
    "lead_id",
    "score",
    "probability",
    "tier",
    "route",
    "recycled",
    "previous_route",
    "expected_value_pln",
    "source",
    "partner_id",
    "conversion_version",
    "velocity_version",
    "route_reason",
)
Handler = Callable[[Request], Awaitable[Response]]


class Pages:
    """The pages of one worker: its settings, and a registry gateway opened on first use."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.value_of_sql = settings.policy.economics.value_of_sql_pln
        self._registry: Registry | None = None

    def registry(self) -> Registry:
        """The worker's gateway, opened on first use (it connects to the registry)."""
        if self._registry is None:
            self._registry = Registry(self.settings.registry)
        return self._registry

    def app(self) -> Starlette:
        shown = [Route(f"/{name}", _page(name), methods=["GET"]) for name in PAGES]
        return Starlette(
            routes=[
                Route("/", _home, methods=["GET"]),
                *shown,
                Route("/lead", _find, methods=["GET"]),
                Route("/lead/{lead_id:path}", _page("lead"), methods=["GET"]),
                Route("/login", _login_form, methods=["GET"]),
                Route("/login", _login, methods=["POST"]),
                Route("/logout", _logout, methods=["POST"]),
                Route("/api/funnel", _data(self.funnel), methods=["GET"]),
                Route("/api/tonight", _data(self.tonight), methods=["GET"]),
                Route("/api/tonight.csv", _data(self.tonight_csv), methods=["GET"]),
                Route("/api/lead/{lead_id:path}", _data(self.lead), methods=["GET"]),
                Route("/api/health", _data(self.health), methods=["GET"]),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
            ]
        )

    async def funnel(self, request: Request) -> Response:
        found = await asyncio.to_thread(latest_report, _store().engine, FUNNEL)
        return _report_json(found)

    async def tonight(self, request: Request) -> Response:
        view = list_query(request.query_params)
        if isinstance(view, Rejected):
            return _refuse(view)
        answer = await asyncio.to_thread(queries.tonight, _store().engine, view, self.value_of_sql)
        tiers = [tier.tier for tier in self.settings.policy.routing.tiers]
        return _json(answer | {"tiers": tiers, "routes": list(queries.ROUTES)})

    async def tonight_csv(self, request: Request) -> Response:
        view = list_query(request.query_params)
        if isinstance(view, Rejected):
            return _refuse(view)
        text = await asyncio.to_thread(_csv, _store().engine, view, self.value_of_sql)
        headers = {"content-disposition": f'attachment; filename="tonight-{view.route}.csv"'}
        return Response(text, 200, SECURITY | headers, media_type="text/csv; charset=utf-8")

    async def lead(self, request: Request) -> Response:
        lead_id = request.path_params["lead_id"]
        if not 1 <= len(lead_id) <= MAX_TEXT:
            return _refuse(
                rejected(400, "invalid", "lead_id", f"must be 1 to {MAX_TEXT} characters")
            )
        trail = await asyncio.to_thread(queries.lead_trail, _store(), lead_id)
        if trail is None:
            return _refuse(rejected(404, "unknown_lead", "lead_id", f"{lead_id!r} is not stored"))
        return _json(trail)

    async def health(self, request: Request) -> Response:
        models = await asyncio.to_thread(lambda: health.models(self.registry()))
        found = await asyncio.to_thread(latest_report, _store().engine, MONITOR)
        _, serving = bentoml.get_current_service().models.readiness()
        return _json(
            {
                "models": models,
                "serving": serving["models"],
                "monitor": _report(found),
            }
        )


def pages_app(settings: ServiceSettings) -> Starlette:
    """The app the service mounts at /pages."""
    return Pages(settings).app()


def _store() -> Any:
    return bentoml.get_current_service().store


def _page(name: str) -> Handler:
    async def show(request: Request) -> Response:
        if not auth.allowed(request):
            query = f"?{request.url.query}" if request.url.query else ""
            return _html(login_page(request.url.path + query, None), 401)
        return _html(page(name))

    return show


def _data(endpoint: Handler) -> Handler:
    """An endpoint that answers only a caller with the token or a session."""

    async def guarded(request: Request) -> Response:
        if len(request.headers.getlist("authorization")) > 1:
            return _refuse(rejected(400, "repeated_header", "Authorization", "must be sent once"))
        if not auth.allowed(request):
            return _refuse(
                rejected(
                    401,
                    "unauthorized",
                    "Authorization",
                    "missing or wrong bearer token or session: log in on /pages/login",
                )
            )
        return await endpoint(request)

    return guarded


async def _home(request: Request) -> Response:
    return RedirectResponse(f"{auth.PATH}/funnel", status_code=303, headers=SECURITY)


async def _find(request: Request) -> Response:
    """The header's lead box without scripts: /pages/lead?id=X goes to X's page."""
    lead_id = request.query_params.get("id", "").strip()
    if not 1 <= len(lead_id) <= MAX_TEXT:
        return _refuse(rejected(400, "invalid", "id", f"must be 1 to {MAX_TEXT} characters"))
    target = f"{auth.PATH}/lead/{quote(lead_id, safe='')}"
    return RedirectResponse(target, status_code=303, headers=SECURITY)


async def _login_form(request: Request) -> Response:
    return _html(login_page(_next(request.query_params.get("next")), None))


async def _login(request: Request) -> Response:
    given = await auth.login_token(request)
    target = _next(request.query_params.get("next"))
    if isinstance(given, Rejected):
        return _html(login_page(target, given.message), given.status)
    if not auth.token_matches(given):
        return _html(login_page(target, "token: wrong token"), 401)
    token = api_token()
    headers = SECURITY | ({"set-cookie": auth.cookie_header(token)} if token else {})
    return RedirectResponse(target, status_code=303, headers=headers)


async def _logout(request: Request) -> Response:
    headers = SECURITY | {"set-cookie": auth.logout_header()}
    return RedirectResponse(f"{auth.PATH}/login", status_code=303, headers=headers)


def _next(target: str | None) -> str:
    """Where to go after logging in: a page of this app, never another site."""
    if target and target.startswith(f"{auth.PATH}/") and "//" not in target and "\\" not in target:
        return target
    return f"{auth.PATH}/funnel"


def _report(found: Any) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "created_at": found.created_at.isoformat(),
        "as_of": found.as_of.isoformat(),
        "body": msgspec.Raw(found.body.encode()),
    }


def _report_json(found: Any) -> Response:
    return _json({"report": _report(found)})


def _csv(engine: Any, view: queries.ListQuery, value_of_sql: float) -> str:
    """Every row of the view as CSV, the reasons up as feature names (in a worker thread)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, (*CSV_COLUMNS, "reasons_up"), extrasaction="ignore")
    writer.writeheader()
    for chunk in queries.export(engine, view, value_of_sql):
        for row in chunk:
            up = (row["reasons"] or {}).get("up", [])
            writer.writerow(row | {"reasons_up": "; ".join(r["feature"] for r in up)})
    return buffer.getvalue()


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status, SECURITY, media_type="application/json")


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status, SECURITY, media_type="text/html; charset=utf-8")


def _refuse(refusal: Rejected) -> Response:
    """The refusal's 4xx body, counted in /metrics like every other refusal of the service."""
    bentoml.get_current_service().metrics.refused(refusal.reason)
    response = refusal.response()
    response.headers.update(SECURITY)
    return response
