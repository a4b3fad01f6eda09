"""Browser tests: the dashboard served by the real aiohttp app on a free port, driven in
headless Chromium (Debian's `chromium` and `chromium-driver`) by selenium.

Where Chromium, chromedriver or selenium is missing the tests skip and say which; with
TOKENBOT_REQUIRE_BROWSER_TESTS=1 (as `.ci/run` sets) they fail instead, so CI cannot pass
without running them. Screenshots go to TOKENBOT_TEST_ARTIFACTS (default
test-artifacts/browser/ in the repository).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.server import build_app
from bot.web.config import WebSettings
from tests.integration.dashboard_support import seed_org

CHROMIUM = os.environ.get("TOKENBOT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TOKENBOT_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRED = os.environ.get("TOKENBOT_REQUIRE_BROWSER_TESTS", "") == "1"
ARTIFACTS = Path(
    os.environ.get("TOKENBOT_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)) and not shutil.which(path):
            return f"{path} not found (apt-get install -y chromium chromium-driver; Debian's {package})"
    return None


@pytest.fixture(scope="session")
def browser_available() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"TOKENBOT_REQUIRE_BROWSER_TESTS=1 but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def driver(browser_available, tmp_path_factory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


class LiveServer:
    """The real app on 127.0.0.1 and a free port, in a thread with its own event loop."""

    def __init__(self, app: web.Application):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, name="dashboard-live-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> str:
        self.thread.start()
        assert self.ready.wait(30), "the dashboard server did not start"
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture
def org(services):
    services.public_url = "http://127.0.0.1"
    services.web_settings = WebSettings(public_url=None)
    return seed_org(services)


@pytest.fixture
def base_url(browser_available, services, org) -> Iterator[str]:
    server = LiveServer(build_app(services))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
