"""The dashboard's routes on the one aiohttp app, under /dashboard.

Every page is a GET that reads; the only forms are sign-out (a POST with a CSRF token) and the
sign-in link's Continue button. A form's body is read as the API reads its bodies
(`bot.http_limits.read_body`: `max_body_bytes`, `body_read_seconds`, and the cap on bodies read
at once from people not signed in), and a refusal is a page that says which limit. A page
runs its database work in a worker thread (one read-only unit of work) and renders a template
with autoescape on. Who may see what is decided before anything is read (`bot.web.scope`): a
page outside the viewer's scope is a 403 page that says nothing about what is behind it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from bot.core.signin import end_session, redeem_link, session_person, start_session
from bot.http_limits import read_body
from bot.web.auth import (
    COOKIE_PATH,
    PRE_SESSION_COOKIE,
    SECURITY_HEADERS,
    clear_session_cookie,
    csrf_ok,
    csrf_token,
    session_token,
    set_session_cookie,
)
from bot.web.chargeback import chargeback_csv
from bot.web.config import WebSettings
from bot.web.freshness import RollupFreshness
from bot.web.pages import (
    chosen_window,
    finance_context,
    overview_context,
    people_context,
    period_choices,
    person_context,
    teams_context,
    window_label,
    workflows_context,
)
from bot.web.scope import Scope, may_see_person, scope_of
from bot.web.templates import build_web_env
from budgets.windows import last_complete_week
from scoring.overview import View, overview_windows, pieces, spend_in
from scoring.score import store_scored_weeks
from storage.models import Person

log = logging.getLogger(__name__)

WEB = web.AppKey("dashboard", Any)
LINK_CHECK_COOKIE = "tokenbot_link_check"  # the Continue button's double-submit check
VIEWER = web.RequestKey("viewer", Person)
SCOPE = web.RequestKey("scope", Scope)
TOKEN = web.RequestKey("session_token", str)
CSRF = web.RequestKey("csrf", str)

NAV = (
    ("overview", "/dashboard", "Overview"),
    ("teams", "/dashboard/teams", "Teams"),
    ("workflows", "/dashboard/workflows", "Workflows"),
    ("finance", "/dashboard/finance", "Finance"),
    ("people", "/dashboard/people", "People"),
)


class Dashboard:
    """The pages, with what they need: services, settings, templates."""

    def __init__(self, services: Any, settings: WebSettings):
        self.services = services
        self.settings = settings
        self.env = build_web_env()
        self.css = self.env.get_template("web/dashboard.css.j2").render()
        self.freshness = RollupFreshness(services.db)

    # --- rendering ---------------------------------------------------------------------

    def html(self, template: str, status: int = 200, **context: Any) -> web.Response:
        text = self.env.get_template(f"web/{template}.html.j2").render(**context)
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def page(
        self, request: web.Request, template: str, current: str, **context: Any
    ) -> web.Response:
        viewer: Person = request[VIEWER]
        scope: Scope = request[SCOPE]
        return self.html(
            template,
            nav=self.nav(scope),
            current=current,
            viewer=viewer,
            scope=scope,
            csrf=request[CSRF],
            **context,
        )

    @staticmethod
    def nav(scope: Scope) -> list[tuple[str, str, str]]:
        """The pages a scope may open (a scope of one has no groups to compare)."""
        return [n for n in NAV if scope.sees_groups or n[0] in ("overview", "people")]

    def refusal(self, request: web.Request, status: int, title: str, message: str) -> web.Response:
        signed_in = VIEWER in request
        return self.html(
            "error",
            status=status,
            title=title,
            message=message,
            viewer=request.get(VIEWER),
            csrf=request.get(CSRF, ""),
            nav=self.nav(request[SCOPE]) if signed_in else [],
            current="",
            providers=self.settings.providers if not signed_in else (),
        )

    def forbidden(self, request: web.Request) -> web.Response:
        return self.refusal(
            request,
            403,
            "Not in your view",
            "This page is outside what you can see on the dashboard. Executives, finance and "
            "admins see the whole organisation, managers the people below them, everyone "
            "else their own figures.",
        )

    async def form(self, request: web.Request, *, signed_in: bool) -> dict[str, str] | web.Response:
        """A posted form's fields (the first value of each), read within the API's body
        limits, or the refusal page to send instead: 413 over `max_body_bytes`, 408 too slow,
        503 when too many people not signed in are sending at once."""
        limit = self.services.settings.max_body_bytes
        too_large = (
            413,
            "Form too large",
            f"The form sent is larger than {limit:,} bytes, the most tokenbot reads; "
            "nothing was done. Reload the page and try again.",
        )
        if request.content_length is not None and request.content_length > limit:
            return self._unread(request, *too_large)
        try:
            body = await read_body(request, authenticated=signed_in)
        except web.HTTPRequestEntityTooLarge:  # aiohttp stops at client_max_size (= limit)
            return self._unread(request, *too_large)
        if isinstance(body, web.Response):  # 408 or 503, with the reason in its JSON
            reason = json.loads(body.text or "{}").get("message", "")
            return self._unread(
                request,
                body.status,
                "Form not read",
                f"{reason[:1].upper()}{reason[1:]}; nothing was done.",
            )
        fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=20)
        return {name: values[0] for name, values in fields.items()}

    def _unread(self, request: web.Request, status: int, title: str, message: str) -> web.Response:
        """A refusal page that closes the connection (what the client still sends is not
        drained)."""
        response = self.refusal(request, status, title, message)
        response.force_close()
        return response

    # --- the session -------------------------------------------------------------------

    async def who(self, request: web.Request) -> Person | None:
        token = session_token(request, self.settings)
        if token is None:
            return None
        now = self.services.clock()

        def find() -> tuple[Person | None, Scope | None]:
            with self.services.db.read() as session:
                person = session_person(session, token, now)
                return person, (scope_of(session, person) if person else None)

        person, scope = await asyncio.to_thread(find)
        if person is not None:
            request[VIEWER] = person
            request[SCOPE] = scope
            request[TOKEN] = token
            request[CSRF] = csrf_token(self.settings, token)
        return person

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        """Open a sign-in link. A browser navigating to it (`Sec-Fetch-Mode: navigate`, sent
        by every current browser) is signed in at once; anything else (a chat's link preview,
        a mail scanner, curl) gets a page with a Continue button instead, so a fetch that is
        not a person does not use up the one-time link."""
        token = request.query.get("token", "")
        if request.headers.get("Sec-Fetch-Mode") != "navigate":
            check = secrets.token_urlsafe(16)
            response = self.html("sign_in_confirm", token=token, check=check)
            response.set_cookie(
                LINK_CHECK_COOKIE,
                check,
                max_age=900,
                path=COOKIE_PATH,
                httponly=True,
                samesite="Strict",
                secure=self.settings.secure_cookies,
            )
            return response
        return await self._redeem(request, token)

    async def sign_in_confirmed(self, request: web.Request) -> web.StreamResponse:
        """The Continue button: the form's check must match the cookie the page set (a form
        posted from elsewhere cannot sign this browser in to someone else's session)."""
        form = await self.form(request, signed_in=False)
        if isinstance(form, web.Response):
            return form
        check = form.get("check", "")
        cookie = request.cookies.get(LINK_CHECK_COOKIE, "")
        if not check or not hmac.compare_digest(check, cookie):
            return self.refusal(
                request, 403, "Sign-in refused", "Open the sign-in link itself and press Continue."
            )
        return await self._redeem(request, form.get("token", ""))

    async def _redeem(self, request: web.Request, token: str) -> web.StreamResponse:
        now = self.services.clock()

        def redeem() -> str | None:
            with self.services.db.unit_of_work() as uow:
                person_id = redeem_link(uow.session, token, now) if token else None
                if person_id is None:
                    return None
                person = uow.session.get(Person, person_id)
                if person is None or not person.active:
                    return None
                session_token_ = start_session(
                    uow.session, person_id, "link", now, self.settings.session_lifetime
                )
                uow.commit()
                return session_token_

        started = await asyncio.to_thread(redeem)
        if started is None:
            return self.refusal(
                request,
                400,
                "This sign-in link does not work",
                "Sign-in links work once, for 15 minutes. Ask tokenbot for a new one: type "
                "/tokens dashboard in Slack or Teams.",
            )
        response = web.HTTPSeeOther("/dashboard")
        set_session_cookie(response, self.settings, started)
        response.del_cookie(LINK_CHECK_COOKIE, path=COOKIE_PATH)
        raise response

    async def start_sso_session(
        self, request: web.Request, person_id: int, method: str
    ) -> web.StreamResponse:
        now = self.services.clock()

        def start() -> str:
            with self.services.db.unit_of_work() as uow:
                token = start_session(
                    uow.session, person_id, method, now, self.settings.session_lifetime
                )
                uow.commit()
                return token

        token = await asyncio.to_thread(start)
        response = web.HTTPSeeOther("/dashboard")
        set_session_cookie(response, self.settings, token)
        response.del_cookie(PRE_SESSION_COOKIE, path=COOKIE_PATH)
        raise response

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        form = await self.form(request, signed_in=True)
        if isinstance(form, web.Response):
            return form
        token = request.get(TOKEN)
        if token is None or not csrf_ok(self.settings, token, form.get("csrf", "")):
            return self.refusal(
                request,
                403,
                "Sign-out refused",
                "The form was stale or not sent from this page; try again.",
            )
        now = self.services.clock()

        def end() -> None:
            with self.services.db.unit_of_work() as uow:
                end_session(uow.session, token, now)
                uow.commit()

        await asyncio.to_thread(end)
        response = web.HTTPSeeOther("/dashboard/signed-out")
        clear_session_cookie(response)
        raise response

    async def signed_out(self, request: web.Request) -> web.Response:
        return self.html("signed_out", providers=self.settings.providers)

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.css, content_type="text/css", headers={"Cache-Control": "max-age=3600"}
        )

    # --- pages -------------------------------------------------------------------------

    def _window(self, request: web.Request):  # noqa: ANN202
        return chosen_window(
            self.services.policy, request.query.get("period"), self.services.clock()
        )

    async def _read(self, work: Callable[[Any], Any]) -> Any:
        def run() -> Any:
            with self.services.db.read() as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def _current(self, windows) -> set[str]:  # noqa: ANN001
        """The closed weeks to read from rollups (built first where missing, as `score`
        does); remembered for a minute (bot.web.freshness)."""
        return await asyncio.to_thread(self.freshness.current, windows, self.services.clock())

    async def _view(self, request: web.Request) -> View:
        """The `?period=` window for the viewer's scope, with its closed weeks' rollups
        current (`_current`)."""
        window = self._window(request)
        policy, now = self.services.policy, self.services.clock()
        current = await self._current(pieces(policy, window, now))
        return View(policy, window, now, request[SCOPE].person_ids, current)

    def _period_context(self, window) -> dict[str, Any]:  # noqa: ANN001
        policy = self.services.policy
        return {
            "window": window,
            "window_label": window_label(window, policy),
            "choices": period_choices(policy, self.services.clock()),
        }

    async def overview(self, request: web.Request) -> web.Response:
        window = self._window(request)
        policy, now, scope = self.services.policy, self.services.clock(), request[SCOPE]
        current = await self._current(overview_windows(policy, window, now))
        view = View(policy, window, now, scope.person_ids, current)
        context = await self._read(lambda s: overview_context(s, view))
        return self.page(request, "overview", "overview", **self._period_context(window), **context)

    async def grouped_page(
        self, request: web.Request, name: str, build: Callable[..., dict[str, Any]]
    ) -> web.Response:
        scope: Scope = request[SCOPE]
        if not scope.sees_groups:
            return self.forbidden(request)
        view = await self._view(request)
        context = await self._read(lambda s: build(s, view))
        return self.page(request, name, name, **self._period_context(view.window), **context)

    async def teams(self, request: web.Request) -> web.Response:
        return await self.grouped_page(request, "teams", teams_context)

    async def workflows(self, request: web.Request) -> web.Response:
        return await self.grouped_page(request, "workflows", workflows_context)

    async def finance(self, request: web.Request) -> web.Response:
        return await self.grouped_page(request, "finance", finance_context)

    async def chargeback(self, request: web.Request) -> web.StreamResponse:
        scope: Scope = request[SCOPE]
        if not scope.sees_groups:
            return self.forbidden(request)
        view = await self._view(request)
        window = view.window
        rows = await self._read(lambda s: spend_in(s, view))
        return web.Response(
            body=chargeback_csv(window.key, rows).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="chargeback-{window.key}.csv"'},
        )

    async def people(self, request: web.Request) -> web.Response:
        policy, now, scope = self.services.policy, self.services.clock(), request[SCOPE]
        context = await self._read(lambda s: people_context(s, policy, scope, now))
        return self.page(request, "people", "people", **context)

    async def person(self, request: web.Request) -> web.Response:
        viewer: Person = request[VIEWER]
        scope: Scope = request[SCOPE]
        raw = request.match_info["person_id"]
        if not raw.isdigit() or not may_see_person(scope, viewer, int(raw)):
            return self.forbidden(request)
        policy, now = self.services.policy, self.services.clock()
        week = last_complete_week(policy.periods.zone, now)
        scored = await asyncio.to_thread(store_scored_weeks, self.services.db, policy, week, now)

        def build(session):  # noqa: ANN001, ANN202
            person = session.get(Person, int(raw))
            if person is None or not person.active:
                return None
            return person_context(session, policy, viewer, person, now, scored.current)

        context = await self._read(build)
        if context is None:
            return self.forbidden(request)
        return self.page(request, "person", "people", **context)


@web.middleware
async def dashboard_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under /dashboard: security headers on every answer; a session for every page but the
    sign-in routes and the stylesheet; an HTML page (with an error id) for any crash."""
    if not (request.path == "/dashboard" or request.path.startswith("/dashboard/")):
        return await handler(request)
    dashboard: Dashboard = request.app[WEB]
    try:
        open_paths = (
            "/dashboard/sign-in",
            "/dashboard/signed-out",
            "/dashboard/static/",
            "/dashboard/sso/",
        )
        if not request.path.startswith(open_paths):
            if await dashboard.who(request) is None:
                response: web.StreamResponse = dashboard.html(
                    "sign_in", status=401, providers=dashboard.settings.providers
                )
            else:
                response = await handler(request)
        else:
            response = await handler(request)
    except web.HTTPException as http:
        response = http
        if http.status == 404:
            response = dashboard.refusal(
                request, 404, "No such page", "There is no dashboard page here."
            )
        elif http.status == 405:
            response = dashboard.refusal(
                request, 405, "Read-only", "Dashboard pages are read-only."
            )
    except ValueError as exc:  # a malformed ?period=
        response = dashboard.refusal(request, 400, "Cannot show that period", str(exc))
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("dashboard %s failed (error id %s)", request.path, error_id)
        response = dashboard.refusal(
            request, 500, "Something went wrong", f"It has been logged with error id {error_id}."
        )
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and request.path.startswith("/dashboard/static/"):
            continue
        response.headers.setdefault(name, value)
    if isinstance(response, web.HTTPException):
        raise response
    return response


def mount_dashboard(app: web.Application, services: Any) -> None:
    settings = services.web_settings or WebSettings.from_env()
    dashboard = Dashboard(services, settings)
    app[WEB] = dashboard
    app.middlewares.append(dashboard_guard)
    r = app.router
    r.add_get("/dashboard", dashboard.overview)
    r.add_get("/dashboard/teams", dashboard.teams)
    r.add_get("/dashboard/workflows", dashboard.workflows)
    r.add_get("/dashboard/finance", dashboard.finance)
    r.add_get("/dashboard/finance/chargeback.csv", dashboard.chargeback)
    r.add_get("/dashboard/people", dashboard.people)
    r.add_get("/dashboard/people/{person_id}", dashboard.person)
    r.add_get("/dashboard/sign-in", dashboard.sign_in)
    r.add_post("/dashboard/sign-in", dashboard.sign_in_confirmed)
    r.add_post("/dashboard/sign-out", dashboard.sign_out)
    r.add_get("/dashboard/signed-out", dashboard.signed_out)
    r.add_get("/dashboard/static/dashboard.css", dashboard.stylesheet)
    from bot.web.sso import mount_sso

    mount_sso(app, dashboard)
