"""The dashboard in headless Chromium: every role signs in with a link and opens every page it
may (charts drawn), gets the 403 page for the others, sees the chat's numbers, can sign out;
accessibility basics (labels, names for charts, text contrast, keyboard) on every page; a
phone-width layout with no sideways scrolling. Screenshots are saved as artifacts."""

from __future__ import annotations

import re

import pytest

from bot.core.messages import Reply
from bot.core.presenters.review import review_context
from message_templates import format_money, format_tokens
from scoring.review import build_review
from tests.integration.dashboard_support import MONTH, ROLES, link_for, token_of
from tests.integration.governance_support import say

PAGES = {
    "overview": f"/dashboard?period={MONTH}",
    "teams": f"/dashboard/teams?period={MONTH}",
    "workflows": f"/dashboard/workflows?period={MONTH}",
    "finance": f"/dashboard/finance?period={MONTH}",
    "people": "/dashboard/people",
}
SEES_GROUPS = {"admin", "executive", "finance", "manager"}


def by_css(driver, selector: str):  # noqa: ANN001, ANN201
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def sign_in(driver, services, base_url: str, email: str) -> None:  # noqa: ANN001
    driver.delete_all_cookies()
    driver.get(f"{base_url}/dashboard/signed-out")  # a page of the site, for its cookies
    driver.delete_all_cookies()
    driver.get(f"{base_url}/dashboard/sign-in?token={token_of(link_for(services, email))}")
    assert driver.current_url == f"{base_url}/dashboard", driver.current_url
    assert by_css(driver, "h1")[0].text.startswith("Overview")


def wait_for_url(driver, url: str, seconds: float = 15) -> None:  # noqa: ANN001
    """A click's navigation (a form POST, a redirect chain) finishes after click() returns."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, seconds).until(lambda d: d.current_url == url)
    except TimeoutException:
        raise AssertionError(f"still at {driver.current_url}, not {url}") from None


def heading(driver) -> str:  # noqa: ANN001
    return by_css(driver, "h1")[0].text


def shot(driver, artifacts, name: str) -> None:  # noqa: ANN001
    path = artifacts / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5_000  # a real picture, not an empty page


def figure(driver, name: str) -> str:  # noqa: ANN001
    (found,) = by_css(driver, f'[data-figure="{name}"]')
    return found.text.strip()


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_signs_in_and_opens_every_page_it_may_and_no_other(
    driver, services, org, base_url, artifacts, role
):
    sign_in(driver, services, base_url, ROLES[role])
    for name, path in PAGES.items():
        driver.get(base_url + path)
        title = heading(driver)
        if role in SEES_GROUPS or name in ("overview", "people"):
            assert title != "Not in your view", (role, name)
            charts = by_css(driver, "figure.chart svg")
            if name in ("overview", "teams", "finance"):
                assert charts, f"{name} drew no chart for {role}"
                box = charts[0].rect
                assert box["width"] > 100 and box["height"] > 50
        else:
            assert title == "Not in your view", (role, name)
        shot(driver, artifacts, f"{role}-{name}")
    # Someone outside every scope but the org's: Dan (Sam's report).
    driver.get(f"{base_url}/dashboard/people/{org['dan@acme.test'].id}")
    outside = heading(driver) == "Not in your view"
    assert outside is (role in ("manager", "member")), role
    own = f"{base_url}/dashboard/people/{org[ROLES[role]].id}"
    driver.get(own)
    assert heading(driver) == "Your figures"
    shot(driver, artifacts, f"{role}-own-page")


def test_the_numbers_on_the_page_are_the_chats(driver, services, org, base_url, clock):
    """Mia: her team's month as the review job tells her in chat, and Ann's balance as
    `balance` tells Ann."""
    reports = [org["ann@acme.test"].id, org["bob@acme.test"].id]
    with services.db.read() as session:
        review = build_review(session, services.policy, MONTH, clock(), reports, "Mia's team")
    context = review_context(review)
    chat = services.renderer.text(Reply("monthly_review", context))
    sign_in(driver, services, base_url, "mia@acme.test")
    driver.get(base_url + PAGES["overview"])
    spend = figure(driver, "cost_micros")
    assert spend == format_money(context["trend"]["cost_micros"]["this"]) and spend in chat
    balance = say(services, "ann@acme.test", "balance")
    driver.get(f"{base_url}/dashboard/people/{org['ann@acme.test'].id}")
    left = figure(driver, "personal_remaining")
    assert left == format_tokens(balance.context["view"].personal_remaining)
    assert f"Personal: {left} of" in services.renderer.text(balance)


def test_refused_calls_show_by_reason_with_their_trend_for_the_viewers_scope(
    driver, services, org, base_url, artifacts
):
    """Finance sees the organisation's refusals (a stranger's too), Mia only her reports'."""
    for email, prohibited, unknown in (("fin@acme.test", "3", "1"), ("mia@acme.test", "2", "0")):
        sign_in(driver, services, base_url, email)
        driver.get(base_url + PAGES["overview"])
        assert figure(driver, "refused:prohibited") == prohibited
        assert figure(driver, "refused:unknown_person") == unknown
        (row,) = by_css(driver, 'tr[data-reason="prohibited"]')
        assert "Prohibited use case" in row.text and "vs 1" in row.text
        (trend,) = row.find_elements("css selector", "figure.chart svg")
        assert trend.rect["width"] > 50
        label = row.find_element("css selector", "[role=img]").get_attribute("aria-label")
        assert label.startswith("Prohibited use case by week, 2026-W")
        driver.execute_script("arguments[0].scrollIntoView()", row)
        shot(driver, artifacts, f"refused-{email.split('@')[0]}")


def test_signing_out_in_the_browser_ends_the_session(driver, services, org, base_url):
    sign_in(driver, services, base_url, "ann@acme.test")
    (button,) = [b for b in by_css(driver, "form button") if b.text == "Sign out"]
    button.click()
    wait_for_url(driver, f"{base_url}/dashboard/signed-out")
    driver.get(f"{base_url}/dashboard")
    assert heading(driver) == "Sign in to the tokenbot dashboard"
    driver.get(f"{base_url}/dashboard/sign-in?token=not-a-real-token")
    assert heading(driver) == "This sign-in link does not work"


CONTRAST_SCRIPT = """
function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; }
function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); }
function background(el) { while (el) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.a > 0.5) return c; el = el.parentElement; }
  return {r: 255, g: 255, b: 255, a: 1}; }
const bad = [];
for (const el of document.querySelectorAll('body *:not(svg):not(svg *)')) {
  const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  const box = el.getBoundingClientRect();
  if (!own || box.width === 0 || box.height === 0 || el.closest('svg')) continue;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden') continue;
  const fg = lum(rgb(style.color)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '" ' + ratio.toFixed(2));
}
return bad;
"""

UNLABELLED_SCRIPT = """
return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).filter(el =>
  !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.getAttribute('aria-label')
).map(el => el.outerHTML.slice(0, 80));
"""


def test_every_page_has_labels_named_charts_readable_contrast_and_works_by_keyboard(
    driver, services, org, base_url, artifacts
):
    from selenium.webdriver.common.keys import Keys

    sign_in(driver, services, base_url, ROLES["finance"])
    pages = [*PAGES.values(), f"/dashboard/people/{org['ann@acme.test'].id}"]
    for path in pages:
        driver.get(base_url + path)
        assert driver.execute_script("return document.documentElement.lang") == "en"
        assert driver.execute_script(UNLABELLED_SCRIPT) == [], path
        for chart in by_css(driver, "figure.chart > div"):
            assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
        assert driver.execute_script(CONTRAST_SCRIPT) == [], path
        for table in by_css(driver, "table"):
            assert by_css(table, "caption") and by_css(table, "th[scope]")
    # Keyboard: the first Tab reaches the skip link, Enter moves to the content; the nav and
    # the sign-out button are reachable by Tab alone, and focus is visible.
    driver.get(base_url + PAGES["overview"])
    body = by_css(driver, "body")[0]
    body.send_keys(Keys.TAB)
    focused = driver.switch_to.active_element
    assert focused.text == "Skip to content"
    assert focused.value_of_css_property("outline-style") != "none"
    reached = []
    for _ in range(12):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        reached.append(driver.switch_to.active_element.text)
    assert {"Overview", "Teams", "Workflows", "Finance", "People", "Sign out"} <= set(reached)
    driver.get(base_url + PAGES["overview"])
    by_css(driver, "body")[0].send_keys(Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    assert driver.switch_to.active_element.get_attribute("id") == "main"
    shot(driver, artifacts, "finance-keyboard")


def test_a_phone_sized_window_needs_no_sideways_scrolling(
    driver, services, org, base_url, artifacts
):
    sign_in(driver, services, base_url, ROLES["executive"])
    driver.set_window_size(390, 844)
    try:
        for name in ("overview", "finance", "teams"):
            driver.get(base_url + PAGES[name])
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            wide = driver.execute_script(
                "return Array.from(document.querySelectorAll('body *')).filter(e =>"
                " e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('svg')"
                " && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className).slice(0, 5)"
            )
            assert overflow <= 1, f"{name} scrolls sideways by {overflow}px on a phone: {wide}"
            shot(driver, artifacts, f"phone-{name}")
    finally:
        driver.set_window_size(1280, 900)


def test_text_from_the_directory_is_shown_as_text(driver, services, org, base_url):
    sign_in(driver, services, base_url, ROLES["admin"])
    driver.get(base_url + PAGES["teams"])
    assert "R&D <Labs>" in driver.page_source.replace("&amp;", "&").replace("&lt;", "<").replace(
        "&gt;", ">"
    )
    assert by_css(driver, "labs") == []  # no element was made from the team's name
    assert re.search(r"R&D <Labs>", by_css(driver, "main")[0].text)


def test_each_kind_of_role_signs_in_with_the_fake_provider_button(
    driver, services, org, artifacts, browser_available
):
    """The sign-in page's "Sign in with Slack" button, through a fake OpenID Connect provider
    on its own port, back to the dashboard with the role's scope."""
    from bot.server import build_app
    from bot.web.config import OidcProvider, WebSettings
    from tests.browser.conftest import LiveServer
    from tests.integration.oidc_fake import CLIENT_ID, CLIENT_SECRET, FakeProvider

    fake = FakeProvider()
    idp = LiveServer(fake.app())
    fake.issuer = idp.start()
    services.web_settings = WebSettings(
        providers=(
            OidcProvider(
                "slack",
                "Sign in with Slack",
                CLIENT_ID,
                CLIENT_SECRET,
                f"{fake.issuer}/.well-known/openid-configuration",
            ),
        )
    )
    server = LiveServer(build_app(services))
    base_url = server.start()
    try:
        for role, scope in (("executive", "the organisation"), ("manager", "Mia Manager's team")):
            fake.email = ROLES[role]
            driver.get(f"{base_url}/dashboard/signed-out")
            driver.delete_all_cookies()
            driver.get(f"{base_url}/dashboard")
            assert heading(driver) == "Sign in to the tokenbot dashboard"
            (button,) = [a for a in by_css(driver, "a.button") if a.text == "Sign in with Slack"]
            button.click()
            wait_for_url(driver, f"{base_url}/dashboard")
            assert by_css(driver, "[data-scope]")[0].text == scope
            shot(driver, artifacts, f"sso-{role}")
    finally:
        server.stop()
        idp.stop()
