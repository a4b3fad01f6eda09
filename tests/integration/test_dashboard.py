"""The web dashboard over HTTP on the real database: sign-in links (once, 15 minutes, one
session even when opened twice at once), sessions (signed cookie, expiry, sign-out with CSRF),
who sees what (403 pages), the figures against the chat's for the same scope and period, the
chargeback CSV (formula-safe), escaping, and the CLI and chat ways to get a link."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.core.messages import Reply
from bot.core.presenters.review import review_context
from bot.core.signin import redeem_link, token_hash
from bot.server import build_app
from bot.web.config import WebSettings
from budgets.periods import period_for
from budgets.spend import forecast, spend_rows
from budgets.windows import last_complete_week
from message_templates import format_money, format_pct, format_tokens
from scoring.metrics import grouped_totals
from scoring.overview import View, pieces, spend_in, window_by_key
from scoring.review import build_review
from scoring.rollups import current_rollups, window_sums
from storage.models import DashboardSession, DashboardSignIn
from tests.conftest import run_together
from tests.integration.cli_support import tokenbot
from tests.integration.dashboard_support import (
    FORMULA_PROJECT,
    MONTH,
    ROLES,
    csrf_of,
    figure,
    link_for,
    seed_org,
    token_of,
)
from tests.integration.governance_support import call, record, say

# What a browser sends when a person opens a link (chat previews and scanners do not).
BROWSER = {"Sec-Fetch-Mode": "navigate"}


@pytest.fixture
def org(services):
    services.web_settings = WebSettings(public_url="http://dashboard.test")
    services.public_url = "http://dashboard.test"
    return seed_org(services)


@pytest.fixture
async def client(services, org):
    async with TestClient(TestServer(build_app(services))) as test_client:
        yield test_client


async def sign_in(client: TestClient, services, email: str) -> None:
    response = await client.get(
        f"/dashboard/sign-in?token={token_of(link_for(services, email))}",
        allow_redirects=False,
        headers=BROWSER,
    )
    assert response.status == 303 and response.headers["Location"] == "/dashboard"


async def page(client: TestClient, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status, await response.text()


# --- access --------------------------------------------------------------------------------


async def test_a_link_signs_in_once_with_a_locked_down_cookie_and_lands_on_the_dashboard(
    client, services
):
    url = link_for(services, "ann@acme.test")
    token = token_of(url)
    assert url.startswith("http://dashboard.test/dashboard/sign-in?token=")
    with services.db.read() as session:  # only the hash is stored
        stored = session.scalars(select(DashboardSignIn.token_hash)).all()
    assert stored == [token_hash(token)] and token not in stored

    first = await client.get(
        f"/dashboard/sign-in?token={token}", allow_redirects=False, headers=BROWSER
    )
    assert first.status == 303 and first.headers["Location"] == "/dashboard"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    status, html = await page(client, "/dashboard")
    assert status == 200 and "Overview: your own figures" in html and "Ann Analyst" in html

    again = await client.get(
        f"/dashboard/sign-in?token={token}", allow_redirects=False, headers=BROWSER
    )
    assert again.status == 400 and "does not work" in await again.text()
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(DashboardSession)) == 1


async def test_a_link_preview_or_scanner_does_not_use_up_the_link(client, services):
    """A fetch that is not a browser navigation gets a Continue button; the link still works,
    once, and the button's form only works from the page that set its cookie."""
    token = token_of(link_for(services, "ann@acme.test"))
    preview = await client.get(f"/dashboard/sign-in?token={token}", allow_redirects=False)
    html = await preview.text()
    assert preview.status == 200 and "Continue to the dashboard" in html
    with services.db.read() as session:
        assert session.scalar(select(DashboardSignIn.used_at)) is None
    check = re.search(r'name="check" value="([^"]+)"', html).group(1)
    forged = await client.post(
        "/dashboard/sign-in",
        data={"token": token, "check": "guess"},
        allow_redirects=False,
    )
    assert forged.status == 403
    with services.db.read() as session:
        assert session.scalar(select(DashboardSignIn.used_at)) is None
    pressed = await client.post(
        "/dashboard/sign-in", data={"token": token, "check": check}, allow_redirects=False
    )
    assert pressed.status == 303 and pressed.headers["Location"] == "/dashboard"
    assert (await page(client, "/dashboard"))[0] == 200
    again = await client.get(
        f"/dashboard/sign-in?token={token}", allow_redirects=False, headers=BROWSER
    )
    assert again.status == 400


async def test_a_link_older_than_15_minutes_opens_nothing(client, services, clock):
    url = link_for(services, "ann@acme.test")
    clock.advance(minutes=15, seconds=1)
    response = await client.get(
        f"/dashboard/sign-in?token={token_of(url)}", allow_redirects=False, headers=BROWSER
    )
    assert response.status == 400
    status, html = await page(client, "/dashboard")
    assert status == 401 and "/tokens dashboard" in html


def test_one_link_opened_eight_times_at_once_signs_in_exactly_once(services, org):
    token = token_of(link_for(services, "ann@acme.test"))

    def open_link() -> int | None:
        with services.db.unit_of_work() as uow:
            person_id = redeem_link(uow.session, token, services.clock())
            uow.commit()
            return person_id

    opened = run_together(open_link, 8)
    assert sorted(opened, key=lambda x: x or 0) == [None] * 7 + [org["ann@acme.test"].id]


async def test_sign_out_needs_the_pages_csrf_token_and_ends_the_session(client, services):
    await sign_in(client, services, "ann@acme.test")
    _, html = await page(client, "/dashboard")
    refused = await client.post("/dashboard/sign-out", data={"csrf": "forged"})
    assert refused.status == 403
    assert (await page(client, "/dashboard"))[0] == 200  # still signed in
    out = await client.post(
        "/dashboard/sign-out", data={"csrf": csrf_of(html)}, allow_redirects=False
    )
    assert out.status == 303 and out.headers["Location"] == "/dashboard/signed-out"
    with services.db.read() as session:
        assert session.scalar(select(DashboardSession.ended_at)) is not None
    assert (await page(client, "/dashboard"))[0] == 401


async def test_an_oversized_form_is_a_413_page_that_names_the_limit_and_changes_nothing(
    services, org
):
    services.settings = replace(services.settings, max_body_bytes=4_000)
    async with TestClient(TestServer(build_app(services))) as small:
        await sign_in(small, services, "ann@acme.test")
        _, html = await page(small, "/dashboard")
        padded = {"csrf": csrf_of(html), "note": "x" * 5_000}
        response = await small.post("/dashboard/sign-out", data=padded, allow_redirects=False)
        assert response.status == 413
        text = await response.text()
        assert "larger than 4,000 bytes" in text and "nothing was done" in text
        assert (await page(small, "/dashboard"))[0] == 200  # still signed in

        async def chunks():  # no Content-Length: aiohttp's own limit answers with the page too
            body = urlencode(padded).encode()
            for start in range(0, len(body), 1024):
                yield body[start : start + 1024]

        response = await small.post(
            "/dashboard/sign-out",
            data=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
        )
        assert response.status == 413 and "larger than 4,000 bytes" in await response.text()
        with services.db.read() as session:
            assert session.scalar(select(DashboardSession.ended_at)) is None
        small.session.cookie_jar.clear()
        link = token_of(link_for(services, "ann@acme.test"))
        response = await small.post(
            "/dashboard/sign-in", data={"token": link, "check": "y" * 5_000}
        )
        assert response.status == 413 and "larger than 4,000 bytes" in await response.text()
        with services.db.read() as session:
            assert session.scalar(select(func.count()).select_from(DashboardSession)) == 1


async def test_a_session_expires_and_a_tampered_cookie_is_no_session(client, services, clock):
    await sign_in(client, services, "ann@acme.test")
    (cookie,) = [c for c in client.session.cookie_jar if c.key == "tokenbot_session"]
    token, _, mac = cookie.value.rpartition(".")
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"tokenbot_session": f"{token}x.{mac}"})
    assert (await page(client, "/dashboard"))[0] == 401
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"tokenbot_session": cookie.value})
    assert (await page(client, "/dashboard"))[0] == 200
    clock.advance(hours=12, seconds=1)
    assert (await page(client, "/dashboard"))[0] == 401


async def test_pages_are_read_only_and_carry_security_headers(client, services):
    await sign_in(client, services, ROLES["finance"])
    response = await client.post("/dashboard/finance")
    assert response.status == 405
    response = await client.get("/dashboard")
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


# --- scope ---------------------------------------------------------------------------------

GROUP_PAGES = (
    "/dashboard/teams",
    "/dashboard/workflows",
    "/dashboard/finance",
    "/dashboard/finance/chargeback.csv",
)


@pytest.mark.parametrize("role", ["admin", "executive", "finance"])
async def test_executives_finance_and_admins_see_the_whole_org(client, services, org, role):
    await sign_in(client, services, ROLES[role])
    for path in GROUP_PAGES:
        assert (await page(client, path))[0] == 200, path
    status, html = await page(client, "/dashboard/teams")
    assert "R&amp;D &lt;Labs&gt;" in html and "Marketing" in html
    for email in ("ann@acme.test", "dan@acme.test", "mia@acme.test"):
        assert (await page(client, f"/dashboard/people/{org[email].id}"))[0] == 200


async def test_a_manager_sees_the_people_below_them_and_nobody_else(client, services, org):
    await sign_in(client, services, ROLES["manager"])
    status, html = await page(client, "/dashboard/teams")
    assert status == 200 and "Marketing" in html and "Labs" not in html
    for email in ("ann@acme.test", "bob@acme.test", "mia@acme.test"):
        assert (await page(client, f"/dashboard/people/{org[email].id}"))[0] == 200
    for email in ("dan@acme.test", "sam@acme.test", "ceo@acme.test"):
        status, html = await page(client, f"/dashboard/people/{org[email].id}")
        assert status == 403 and "Not in your view" in html and "Dan" not in html
    assert (await page(client, "/dashboard/people/999999"))[0] == 403  # same as out of scope


async def test_a_member_sees_only_themselves(client, services, org):
    await sign_in(client, services, ROLES["member"])
    for path in GROUP_PAGES:
        status, html = await page(client, path)
        assert status == 403 and "Not in your view" in html, path
    assert (await page(client, f"/dashboard/people/{org['ann@acme.test'].id}"))[0] == 200
    assert (await page(client, f"/dashboard/people/{org['bob@acme.test'].id}"))[0] == 403
    status, html = await page(client, "/dashboard")
    assert status == 200 and 'href="/dashboard/finance"' not in html


async def test_flags_show_to_the_person_and_their_managers_only(client, services, org):
    ann = org["ann@acme.test"].id
    for email, shown in (
        ("ann@acme.test", True),
        ("mia@acme.test", True),
        ("fin@acme.test", False),
        ("exe@acme.test", False),
    ):
        client.session.cookie_jar.clear()
        await sign_in(client, services, email)
        status, html = await page(client, f"/dashboard/people/{ann}")
        assert status == 200
        assert ("Repeated prompts" in html) is shown, email
        if shown:  # the explanation is text, escaped
            assert "prompt &lt;b&gt;sent&lt;/b&gt; 40 times" in html
        if email == "mia@acme.test":  # about Ann, not to her
            assert "you can dispute" not in html and " your " not in html.lower(), html


@pytest.mark.parametrize(
    ("email", "prohibited", "unknown"),
    [(ROLES["finance"], 3, 1), (ROLES["manager"], 2, 0), (ROLES["member"], 2, 0)],
)
async def test_refused_calls_show_by_reason_in_the_viewers_scope_against_the_month_before(
    client, services, org, email, prohibited, unknown
):
    """Finance sees every refusal (a stranger's too), Mia her reports' (Ann's, not Dan's), Ann
    her own; October had one of Ann's."""
    await sign_in(client, services, email)
    status, html = await page(client, f"/dashboard?period={MONTH}")
    assert status == 200
    assert figure(html, "refused:prohibited") == str(prohibited)
    assert figure(html, "refused:unknown_person") == str(unknown)
    assert figure(html, "refused_total") == str(prohibited + unknown)
    row = re.search(r'data-reason="prohibited".*?</tr>', html, re.S).group(0)
    assert f"{(prohibited / 1 - 1) * 100:+.0f}%" in row and "vs 1" in row
    assert "Prohibited use case" in row and "by week, 2026-W" in row


# --- the same figures as the chat ----------------------------------------------------------


@pytest.mark.parametrize("email", [ROLES["finance"], ROLES["manager"]])
async def test_the_overview_of_a_month_says_what_the_monthly_review_says_in_chat(
    client, services, org, email
):
    """The review job's message for finance (the org) and for Mia (her reports), against the
    overview page of the same month signed in as the same person."""
    with services.db.read() as session:
        if email == ROLES["manager"]:
            ids = [org["ann@acme.test"].id, org["bob@acme.test"].id]
            review = build_review(session, services.policy, MONTH, services.clock(), ids, "x")
        else:
            review = build_review(session, services.policy, MONTH, services.clock())
    trend = review_context(review)["trend"]
    chat = services.renderer.text(Reply("monthly_review", review_context(review)))
    await sign_in(client, services, email)
    status, html = await page(client, f"/dashboard?period={MONTH}")
    assert status == 200
    spend = figure(html, "cost_micros")
    acceptance = figure(html, "acceptance_rate")
    assert spend == format_money(trend["cost_micros"]["this"]) and spend in chat
    assert acceptance == format_pct(trend["acceptance"]["this"])
    assert f"({acceptance} accepted" in chat
    minutes = trend["verified_minutes"]["this"]
    assert figure(html, "verified_minutes") == f"{minutes / 60:.1f} h"
    assert f"{round(minutes)} verified minutes saved" in chat
    assert figure(html, "flags_total") == str(
        sum(f["total"] for f in review_context(review)["flags"])
    )
    lede = re.search(r'class="lede">(.*?)</p>', html, re.S).group(1)
    assert f"{format_tokens(trend['tokens']['this'])} budget tokens" in lede
    assert f"{format_tokens(trend['tokens']['this'])} tokens" in chat
    if email == ROLES["manager"]:
        assert trend["tokens"]["this"] == 5 * 5_000 + 5 * 50_000  # Ann's and Bob's only


async def test_a_person_page_says_what_balance_and_score_say_in_chat(client, services, org, clock):
    balance = say(services, "ann@acme.test", "balance")
    week = last_complete_week(services.policy.periods.zone, clock())
    score = say(services, "ann@acme.test", f"score --week {week.key}")
    await sign_in(client, services, "ann@acme.test")
    status, html = await page(client, f"/dashboard/people/{org['ann@acme.test'].id}")
    assert status == 200
    view = balance.context["view"]
    remaining, total = figure(html, "personal_remaining"), figure(html, "personal_total")
    assert (remaining, total) == (
        format_tokens(view.personal_remaining),
        format_tokens(view.personal_total),
    )
    assert f"Personal: {remaining} of {total} left" in services.renderer.text(balance)
    assert figure(html, "burn_per_day") == format_tokens(view.burn_per_day)
    if score.context["score"] is None:
        assert "No scored work" in html
    else:
        assert figure(html, "score") == score.context["score"]
        assert f"{score.context['score']} points" in services.renderer.text(score)


# --- finance -------------------------------------------------------------------------------


async def test_the_chargeback_csv_adds_up_to_the_finance_page_and_is_formula_safe(client, services):
    await sign_in(client, services, ROLES["finance"])
    _, html = await page(client, f"/dashboard/finance?period={MONTH}")
    response = await client.get(f"/dashboard/finance/chargeback.csv?period={MONTH}")
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    total = sum(round(float(r["cost_usd"]) * 1_000_000) for r in rows)
    assert figure(html, "total_spend") == format_money(total)
    projects = {r["project"] for r in rows}
    assert "'" + FORMULA_PROJECT in projects and FORMULA_PROJECT not in projects
    teams = {r["team"] for r in rows}
    assert teams == {"Marketing", "R&D <Labs>"}  # CSV is not HTML: no entities


@pytest.mark.parametrize("period", [MONTH, "4W", "2026-Q4"])
def test_finance_reads_stored_spend_that_equals_the_events_for_every_scope(
    services, org, clock, period
):
    """Spend by team, project, use case and model from the stored rollups (edges included)
    is what the events say, for the org and for Mia's reports."""
    policy, now = services.policy, clock()
    window = window_by_key(policy, period, now)
    with services.db.unit_of_work() as uow:
        stored = current_rollups(uow.session, pieces(policy, window, now), now, store=True)
        uow.commit()
    assert stored
    reports = [org["ann@acme.test"].id, org["bob@acme.test"].id]
    with services.db.read() as session:
        for scope in (None, reports):
            rows = spend_in(session, View(policy, window, now, scope, stored))
            assert rows == spend_rows(session, window.start, window.end, scope)
            assert rows and all(r.events > 0 for r in rows)


async def test_the_finance_pages_spend_by_team_is_the_monthly_reports(
    client, services, clean_database
):
    """`tokenbot report --month` (the review job's figures, for finance tools) against the
    finance page of the same month: each team's spend and budget tokens."""
    done = tokenbot("report", "--month", MONTH, "--format", "csv", database_url=clean_database)
    assert done.returncode == 0, done.stderr
    report: dict[str, dict[str, Decimal]] = {}
    for row in csv.DictReader(io.StringIO(done.stdout)):
        if row["section"] == "team" and row["measure"] in ("tokens", "cost"):
            report.setdefault(row["team"], {})[row["measure"]] = Decimal(row["value"])
    await sign_in(client, services, ROLES["finance"])
    _, html = await page(client, f"/dashboard/finance?period={MONTH}")
    table = html.split("Spend by team", 1)[1].split("</table>", 1)[0]
    shown = {
        unescape(name): (cost, tokens)
        for name, cost, tokens in re.findall(
            r'<th scope="row">(.*?)</th><td>(.*?)</td><td>(.*?)</td>', table
        )
    }
    spending = {team: f for team, f in report.items() if f["tokens"]}
    assert set(shown) == set(spending) and len(shown) >= 2
    for team, figures in spending.items():
        # The report gives dollars to the cent (unit USD), the page the same rounding.
        assert shown[team] == (
            format_money(int(figures["cost"] * 1_000_000)),
            format_tokens(int(figures["tokens"])),
        ), team


async def test_the_finance_page_forecasts_the_period_and_splits_spend_by_project_and_model(
    client, services
):
    await sign_in(client, services, ROLES["executive"])
    status, html = await page(client, "/dashboard/finance")
    assert status == 200
    used = figure(html, "period_used")
    with services.db.read() as session:
        period = period_for(services.policy.periods, services.clock())
        expected = forecast(session, period, services.clock())
    assert used == format_tokens(expected.used) and expected.used > 0
    assert figure(html, "forecast") == format_tokens(expected.forecast)
    assert expected.forecast > expected.used  # 12 of 30 days gone: the burn goes on
    assert "gpt-4o" in html and "=HYPERLINK(&#34;http://evil.test&#34;" in html


# --- getting a link ------------------------------------------------------------------------


async def test_the_chat_command_sends_the_asker_their_own_link_privately(client, services, org):
    reply = say(services, "bob@acme.test", "dashboard")
    assert reply.private and reply.template == "dashboard_link"
    text = services.renderer.text(reply)
    url = re.search(r"http://dashboard\.test/dashboard/sign-in\?token=\S+", text).group(0)
    response = await client.get(url.replace("http://dashboard.test", ""), headers=BROWSER)
    assert response.status == 200 and "Bob Builder" in await response.text()
    refused = say(services, "bob@acme.test", "dashboard ann@acme.test")
    assert refused.template == "usage_error"


def test_without_a_public_url_the_chat_says_the_dashboard_is_not_set_up(services, org):
    services.public_url = None
    reply = say(services, "bob@acme.test", "dashboard")
    assert "TOKENBOT_PUBLIC_URL" in services.renderer.text(reply)
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(DashboardSignIn)) == 0


async def test_tokenbot_dashboard_link_prints_a_link_that_signs_in(
    client, services, clean_database
):
    done = tokenbot(
        "dashboard",
        "link",
        "--as",
        "dan@acme.test",
        "--base-url",
        "http://dash.test/",
        database_url=clean_database,
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert (
        url.startswith("http://dash.test/dashboard/sign-in?token=") and "Dan Deals" in done.stderr
    )
    response = await client.get(
        url.replace("http://dash.test", ""), allow_redirects=False, headers=BROWSER
    )
    assert response.status == 303
    unknown = tokenbot(
        "dashboard",
        "link",
        "--as",
        "nobody@acme.test",
        "--base-url",
        "http://dash.test",
        database_url=clean_database,
    )
    assert unknown.returncode == 2 and "nobody@acme.test" in unknown.stderr


def test_links_expire_after_15_minutes_by_the_clock_given(services, org, clock):
    token = token_of(link_for(services, "ann@acme.test"))
    with services.db.unit_of_work() as uow:
        assert redeem_link(uow.session, token, clock() + timedelta(minutes=15)) is None
        assert (
            redeem_link(uow.session, token, clock() + timedelta(minutes=14))
            == org["ann@acme.test"].id
        )


def test_a_late_event_in_a_closed_week_shows_once_its_freshness_is_checked_again(
    services, org, clock
):
    """Closed weeks are read from rollups whose freshness is remembered for a minute: a late
    event is left out until then, and counted after (the rollup is rebuilt)."""
    from bot.web.freshness import RollupFreshness
    from scoring.overview import View, build_overview, overview_windows, window_by_key
    from tests.integration.dashboard_support import day
    from tests.integration.governance_support import call, record

    ticks = [0.0]
    freshness = RollupFreshness(services.db, ttl=60, clock=lambda: ticks[0])
    policy, now = services.policy, clock()
    week = window_by_key(policy, "2026-W45", now)

    def tokens() -> int:
        current = freshness.current(overview_windows(policy, week, now), now)
        with services.db.read() as session:
            return build_overview(
                session, View(policy, week, now, None, current)
            ).current.totals.tokens

    before = tokens()
    record(services, [call("ann@acme.test", day(11, 3), tokens=80_000)])  # Tue of 2026-W45
    ticks[0] = 59.0
    assert tokens() == before
    ticks[0] = 61.0
    assert tokens() == before + 100_000


def test_a_months_edge_days_are_read_from_their_own_rollup_and_add_up_to_the_events(
    services, org, clock
):
    """November 2026 starts on a Sunday: its first day is week 44's 7th, stored as
    `2026-W44+6`; October's end is the same week's first 6 days, `2026-W44-6`. Read from those
    rollups, each month's sums are the events' sums."""
    policy, now = services.policy, clock()
    edges = (datetime(2026, 11, 1, 12, tzinfo=UTC), datetime(2026, 10, 31, 12, tzinfo=UTC))
    record(services, [call("ann@acme.test", at, tokens=3_000) for at in edges])
    november = window_by_key(policy, MONTH, now)
    october = window_by_key(policy, "2026-10", now)
    with services.db.unit_of_work() as uow:
        parts = {w: pieces(policy, w, now) for w in (november, october)}
        keys = {w.key: [(p.key, p.kind) for p in found] for w, found in parts.items()}
        assert keys[MONTH][0] == ("2026-W44+6", "days")
        assert keys["2026-10"][0] == ("2026-W40+3", "days")
        assert keys["2026-10"][-1] == ("2026-W44-6", "days")
        stored = current_rollups(uow.session, [*parts[november], *parts[october]], now, store=True)
        uow.commit()
    assert {"2026-W44+6", "2026-W44-6", "2026-W40+3"} <= stored
    with services.db.read() as session:
        for window, found in parts.items():
            from_rollups = grouped_totals(
                session, window_sums(session, found, now, current=stored), ()
            )
            live = grouped_totals(
                session, window_sums(session, [replace(window, kind="live")], now), ()
            )
            assert from_rollups == live and live[()].tokens > 0, window.key
        edge = window_sums(session, [parts[november][0]], now, current=stored)
        assert grouped_totals(session, edge, ())[()].events == 1  # the 1 November call
