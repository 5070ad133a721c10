"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Every test in this folder is marked `browser` (deselect with `-m "not browser"`). Without
/usr/bin/chromium they are skipped, with a notice in the terminal summary, unless
KETACARE_REQUIRE_BROWSER=1 (CI), where a missing browser fails the run. Never download a browser.

Pages are checked at tablet landscape (the nurse at the chair) by default; `shoot()` also saves
full-page screenshots at tablet portrait and phone size to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django would refuse ORM calls from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("KETACARE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("KETACARE_REQUIRE_BROWSER") == "1"
MISSING = f"Chromium not found at {CHROMIUM} (install Debian's chromium package; never download a browser)"

BROWSER_DIR = Path(__file__).parent
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

VIEWPORTS: dict[str, dict[str, int]] = {
    "landscape": {"width": 1024, "height": 768},  # tablet at the chair
    "portrait": {"width": 768, "height": 1024},
    "phone": {"width": 390, "height": 844},
}
TABLET = VIEWPORTS["landscape"]
# Fail fast: a locator that is not there in 5 s will not come.
TIMEOUT_MS = 5_000

_skipped_for_missing_browser: list[str] = []


def browser_available() -> bool:
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    available = browser_available()
    for item in items:
        if BROWSER_DIR not in Path(str(item.path)).parents:
            continue
        item.add_marker(pytest.mark.browser)
        # With pytest-xdist (`make test` runs two workers), every browser test runs on one worker:
        # one Chromium at a time, the others share the second worker.
        item.add_marker(pytest.mark.xdist_group("browser"))
        if not available and not REQUIRE_BROWSER:
            item.add_marker(pytest.mark.skip(reason=f"{MISSING}: browser tests skipped"))
        if not available:
            _skipped_for_missing_browser.append(item.nodeid)


def _browser_tests_reported(terminalreporter: Any) -> int:
    """Browser tests in the run's reports (under pytest-xdist the workers collect, not this process)."""
    prefix = f"{BROWSER_DIR.relative_to(BROWSER_DIR.parent.parent)}/"
    return len(
        {
            report.nodeid
            for reports in terminalreporter.stats.values()
            for report in reports
            if str(getattr(report, "nodeid", "")).startswith(prefix)
        }
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    count = len(_skipped_for_missing_browser)
    if not count and not browser_available():
        count = _browser_tests_reported(terminalreporter)
    if not count:
        return
    if REQUIRE_BROWSER:
        terminalreporter.write_sep("!", "BROWSER TESTS FAILED: NO BROWSER", red=True, bold=True)
        terminalreporter.write_line(f"{count} browser test(s) could not run. {MISSING}.", red=True, bold=True)
    else:
        terminalreporter.write_sep("!", "BROWSER TESTS NOT RUN", yellow=True, bold=True)
        terminalreporter.write_line(
            f"{count} browser test(s) skipped. {MISSING}. Set KETACARE_REQUIRE_BROWSER=1 to make this an error.",
            yellow=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not browser_available():
        if REQUIRE_BROWSER:
            pytest.fail(f"KETACARE_REQUIRE_BROWSER=1 but {MISSING}", pytrace=False)
        pytest.skip(f"{MISSING}: browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_context(browser: Any, base_url: str) -> Any:
    """A fresh, signed-out browser: tablet landscape, clinic time zone, no animations to wait for."""
    context = browser.new_context(
        viewport=TABLET,
        base_url=base_url,
        locale="en-US",
        timezone_id="America/Chicago",
        reduced_motion="reduce",
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS * 2)
    return context


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Callable[[], Any]]:
    """`new_page()`: another person at another tablet (own cookies), pointed at the live server.

    Every page is watched: a stylesheet or script that fails to load, or an uncaught JavaScript
    error, fails the test at teardown (an unstyled page still "works" for Playwright).
    """
    contexts: list[Any] = []
    problems: list[str] = []

    def watch(tab: Any) -> None:
        def on_response(response: Any) -> None:
            if "/static/" in response.url and response.status >= 400:
                problems.append(f"{response.status} for {response.url}")

        tab.on("response", on_response)

        def on_failed(request: Any) -> None:
            # A request the page itself abandoned by navigating on (an HTMX load cut short by the
            # next click) is not a fault; anything else (refused, reset, not found) is.
            if request.failure != "net::ERR_ABORTED":
                problems.append(f"request failed: {request.url} ({request.failure})")

        tab.on("requestfailed", on_failed)
        tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))

    def make() -> Any:
        context = _new_context(browser, live_server.url)
        contexts.append(context)
        tab = context.new_page()
        watch(tab)
        return tab

    yield make
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("page problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_page: Callable[[], Any]) -> Any:
    return new_page()


def login(page: Any, email: str, password: str) -> None:
    """Sign in through the real login form, then wait until we have left it."""
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


@pytest.fixture
def login_as(personas: dict[str, Any]) -> Callable[[Any, str], None]:
    """`login_as(page, "cy")`: sign in as a persona from tests/conftest.py."""
    from tests.conftest import PASSWORD

    def do(page: Any, key: str) -> None:
        login(page, personas[key].email, PASSWORD)

    return do


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def shoot(page: Any, name: str, sizes: tuple[str, ...] = tuple(VIEWPORTS), restore: bool = True) -> list[Path]:
    """Full-page screenshots of the current page at each size (the viewport is left at the last
    size if `restore` is false). At phone size, also what fits on the screen, at a readable scale."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    paths = []
    for size in sizes:
        page.set_viewport_size(VIEWPORTS[size])
        path = SCREENSHOTS / f"{_slug(name)}-{size}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        paths.append(path)
        if size == "phone":
            top = SCREENSHOTS / f"{_slug(name)}-{size}-top.png"
            page.screenshot(path=str(top), animations="disabled")
            paths.append(top)
    if restore:
        page.set_viewport_size(original)
    return paths


@pytest.fixture
def screenshot() -> Callable[..., list[Path]]:
    return shoot
