"""The console and /docs in a real headless Chromium against a real `python -m service` process.

Log in, predict through Try, see the predictions counted on Monitor, correct one on Review, find
the feedback in the database and the accuracy updated; no console error on any page, no request
beyond the service. Screenshots go to a temporary folder, or to docs/ with UPDATE_SCREENSHOTS=1.

Needs Debian's chromium (`apt-get install chromium`) and the `playwright` package; skipped where
either is missing, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN, ROOT, ServerProcess

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
PREDICT_KEY = "e2e-predict-key-1"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TEXTS = [
    "A wonderful film. The acting is superb and the story kept me smiling until the end.",
    "Dull, slow and far too long. I wanted my money back.",
    "The plot was fine, I suppose. The ending was a mess though.",
]
MIXED = "The first hour is wonderful and the acting is superb. Then the plot falls apart and the ending is a dull mess."
SENTENCES = [
    "I loved every minute of it.",
    "The cast is brilliant and the script is sharp.",
    "A beautiful, moving story.",
    "It was fine, nothing special.",
    "The middle drags a little.",
    "Some scenes work, others do not.",
    "The dialogue is clumsy and the pacing is off.",
    "A boring, predictable waste of two hours.",
    "The worst film I have seen this year.",
    "The soundtrack is lovely.",
    "I would not watch it again.",
    "Funny, warm and clever.",
]
BATCH = 40


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install playwright)"
    return None


def _require_browser() -> None:
    problem = _missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    _require_browser()
    # The shipped model: real predictions and explanations, as a user sees them.
    env = {"SENTIMENT_MODEL_DIR": "", "SENTIMENT_API_KEYS": PREDICT_KEY}
    process = ServerProcess.start(tmp_path_factory.mktemp("console") / "requests.db", env)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


class Browser:
    """A new tab (its own sessionStorage) that records console errors, page errors and every URL asked for."""

    def __init__(self, context: Any, server_url: str) -> None:
        self.server_url = server_url
        self.errors: list[str] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.outside: list[str] = []
        self.page = context.new_page()
        self.page.route("**/*", self._only_the_service)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("request", lambda request: self.requests.append((request.url, request.headers)))

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _only_the_service(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.server_url + "/") or url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def goto(self, path: str) -> None:
        self.page.goto(self.server_url + path, wait_until="load")


@pytest.fixture(scope="module")
def chromium_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium, headless, on a fresh profile (one launch for the module's tests)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            device_scale_factor=1,
        )
        yield context
        context.close()


@pytest.fixture()
def chromium(chromium_profile: Any) -> Iterator[Callable[[str], Browser]]:
    """Open a new tab on a server's URL; closed after the test."""
    opened: list[Browser] = []

    def open_on(url: str) -> Browser:
        opened.append(Browser(chromium_profile, url))
        return opened[-1]

    yield open_on
    for b in opened:
        b.page.close()


@pytest.fixture()
def browser(server: ServerProcess, chromium: Callable[[str], Browser]) -> Browser:
    return chromium(server.url)


def _eventually(
    check: Callable[[], bool], what: str, timeout: float = 15.0, every: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if every:
            every()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _db(server: ServerProcess, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.database) as con:
        return con.execute(sql, args).fetchall()


def _tile(b: Browser, name: str) -> str:
    return str(b.page.locator(f'[data-tile="{name}"] .tile-value').inner_text())


def test_console_try_monitor_review(browser: Browser, server: ServerProcess, shots: Path) -> None:
    b, page = browser, browser.page

    # Try: a login form first; the key goes to this tab's sessionStorage only.
    b.goto("/console")
    key = page.locator('#login input[name="key"]')
    assert key.get_attribute("type") == "password" and key.is_visible()
    page.screenshot(path=str(shots / "console-login.png"))
    key.fill(ADMIN)
    page.locator("#login button[type=submit]").click()
    page.locator("#model-line").filter(has_text="version").wait_for()
    for text in TEXTS:
        page.fill("#text", text)
        page.click("#classify")
        page.locator("#history tbody tr").nth(TEXTS.index(text)).wait_for()
    assert page.inner_text("#label") in ("negative", "positive")
    assert "sentiment " in page.inner_text("#result-meta") and "read as en" in page.inner_text("#result-meta")
    assert page.locator("#highlighted .tok").count() > 5, "the words are highlighted by weight"
    assert page.locator("#sentence-list li").count() == 2, "one line per sentence"
    page.fill("#text", MIXED)
    page.click("#classify")
    page.locator("#history tbody tr").nth(3).wait_for()
    assert page.locator("#sentence-list li").count() == 2
    page.screenshot(path=str(shots / "console-try.png"), full_page=True)
    assert page.evaluate("sessionStorage.length") == 1 and page.evaluate("localStorage.length") == 0

    # Monitor: the four predictions counted, as the database has them.
    b.goto("/console/monitor")
    page.locator("#monitor-body").wait_for()
    _eventually(lambda: _tile(b, "Requests") == "4", "4 requests on Monitor", every=lambda: page.click("#refresh"))
    assert "en" in page.inner_text("#languages-table"), "texts per language"
    assert _db(server, "SELECT count(*) FROM request_log WHERE endpoint = 'sentiment'") == [(4,)]
    assert "UTC" in page.inner_text("#window-line")
    assert page.locator("canvas").count() >= 6

    # Another application sends a batch with its own key.
    rng, batch = random.Random(7), list[str]()
    while len(batch) < BATCH:  # distinct texts, one to three sentences each
        text = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
        batch += [text] if text not in batch else []
    answer = httpx.post(
        server.url + "/v1/sentiment/batch", json={"texts": batch}, headers={"X-API-Key": PREDICT_KEY}, timeout=30
    )
    assert answer.status_code == 200
    _eventually(lambda: _db(server, "SELECT count(*) FROM request_log") == [(4 + BATCH,)], "the batch logged")

    # Review: the least confident first; the key filter; correct one, confirm another.
    b.goto("/console/review")
    items = page.locator("#queue article")
    items.first.wait_for()
    assert items.count() == 4 + BATCH
    page.fill("#f-key", hashlib.sha256(PREDICT_KEY.encode()).hexdigest()[:12])
    page.click("#apply")
    _eventually(lambda: items.count() == BATCH, "only the batch's key")
    page.fill("#f-key", "")
    page.click("#apply")
    _eventually(lambda: items.count() == 4 + BATCH, "every key again")
    first, second = items.nth(0), items.nth(1)
    corrected_id, index = first.get_attribute("data-request-id"), first.get_attribute("data-item-index")
    score_of_first = "SELECT score FROM request_log WHERE request_id = ? AND item_index = ?"
    assert _db(server, score_of_first, corrected_id, int(index or 0)) == _db(
        server, "SELECT min(score) FROM request_log"
    )
    first.locator("button.correct").first.click()
    first.locator(".status.saved").wait_for()
    second.locator("button.confirm").click()
    second.locator(".status.saved").wait_for()
    page.screenshot(path=str(shots / "console-review.png"))
    rows = _db(
        server,
        "SELECT f.label, r.label FROM feedback f JOIN request_log r"
        " ON r.request_id = f.request_id AND r.item_index = f.item_index ORDER BY f.id",
    )
    assert len(rows) == 2 and rows[0][0] != rows[0][1] and rows[1][0] == rows[1][1]
    assert _db(server, "SELECT request_id FROM feedback ORDER BY id LIMIT 1") == [(corrected_id,)]

    # Monitor again: accuracy over the two reviews is 50%; every logged text counted.
    b.goto("/console/monitor")
    page.locator("#accuracy").wait_for()
    assert page.inner_text("#accuracy") == "50.0%" and _tile(b, "Feedback") == "2"
    assert _tile(b, "Requests") == str(_db(server, "SELECT count(*) FROM request_log")[0][0])
    page.select_option("#window", "1h")
    _eventually(lambda: "interval 1 min" in page.inner_text("#window-line"), "the last hour")
    assert _tile(b, "Requests") == str(4 + BATCH)
    [(version,)] = _db(server, "SELECT DISTINCT model_version FROM request_log")
    page.select_option("#version", version)
    _eventually(lambda: f"model {version}" in page.inner_text("#window-line"), "one model version")
    assert _tile(b, "Requests") == str(4 + BATCH)
    page.screenshot(path=str(shots / "console-monitor.png"), full_page=True)

    # Phone width: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/console", "/console/monitor", "/console/review"):
        b.goto(path)
        page.locator("#page").wait_for()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.screenshot(path=str(shots / "console-review-phone.png"))

    assert b.errors == []
    assert b.outside == []
    for url, headers in b.requests:
        assert ADMIN not in url
        if "/v1/" in url:
            assert headers.get("x-api-key") == ADMIN


def test_prediction_key_is_refused_by_admin_pages(browser: Browser) -> None:
    b, page = browser, browser.page
    b.goto("/console/monitor")
    page.fill('input[name="key"]', PREDICT_KEY)
    page.locator("#login button[type=submit]").click()
    message = page.locator("#login-error")
    message.wait_for()
    assert "needs an admin key" in message.inner_text()
    assert page.evaluate("sessionStorage.length") == 0, "a refused key is forgotten"
    assert b.outside == []
    assert [e for e in b.errors if "status of 403" not in e] == []  # the refusal itself is the only error


def test_docs_render_offline(browser: Browser, shots: Path) -> None:
    b, page = browser, browser.page
    b.goto("/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="Sentiment service").wait_for()
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 5
    page.screenshot(path=str(shots / "docs-swagger.png"))
    assert b.errors == []
    assert b.outside == []


def test_review_says_why_no_text_in_hash_mode(
    chromium: Callable[[str], Browser], tiny_artifact: Path, tmp_path: Path
) -> None:
    env = {"SENTIMENT_MODEL_DIR": str(tiny_artifact), "SENTIMENT_LOG_TEXT": "hash", "SENTIMENT_LOG_FLUSH_MS": "10"}
    server = ServerProcess.start(tmp_path / "hash.db", env)
    try:
        answer = httpx.post(server.url + "/v1/sentiment", json={"text": "a secret text"}, timeout=10).json()
        _eventually(lambda: _db(server, "SELECT count(*) FROM request_log") == [(1,)], "the row written")
        b = chromium(server.url)
        b.goto("/console/review")
        b.page.fill('input[name="key"]', ADMIN)
        b.page.locator("#login button[type=submit]").click()
        item = b.page.locator(f'#queue article[data-request-id="{answer["request_id"]}"]')
        item.wait_for()
        assert "SENTIMENT_LOG_TEXT=hash" in b.page.inner_text("#text-note")
        assert "text not logged" in item.inner_text() and "a secret text" not in b.page.content()
        item.locator("button.correct").click()
        item.locator(".status.saved").wait_for()  # feedback needs no text
        assert _db(server, "SELECT request_id FROM feedback") == [(answer["request_id"],)]
        assert b.errors == [] and b.outside == []
    finally:
        server.stop()


def test_monitor_picks_a_model_and_compares_its_candidate(
    chromium: Callable[[str], Browser], tiny_artifact: Path, tmp_path: Path, shots: Path
) -> None:
    """Two models; the default one runs a candidate (shadow 100%): Monitor's compare panel shows it; Stop drops it."""
    from tests.conftest import make_artifact

    candidate = make_artifact(tmp_path / "candidate", seed=11)
    second = make_artifact(tmp_path / "second", seed=4)
    env = {
        "SENTIMENT_MODELS": f"en={tiny_artifact},tickets={second}",
        "SENTIMENT_CANDIDATES": f"en={candidate}",
        "SENTIMENT_LOG_FLUSH_MS": "10",
    }
    server = ServerProcess.start(tmp_path / "candidate.db", env)
    try:
        words = ["good movie", "bad plot", "great fine", "awful poor", "the movie was not good", "fine ."]
        for i in range(30):
            httpx.post(server.url + "/v1/sentiment", json={"text": words[i % len(words)] + " !" * (i % 3)}, timeout=10)
        httpx.post(server.url + "/v1/sentiment", json={"text": "good", "model": "tickets"}, timeout=10)
        shadow_rows = "SELECT count(*) FROM request_log WHERE role = 'shadow'"
        _eventually(lambda: _db(server, shadow_rows) == [(30,)], "30 shadow rows")
        b = chromium(server.url)
        b.goto("/console/monitor")
        b.page.fill('input[name="key"]', ADMIN)
        b.page.locator("#login button[type=submit]").click()
        page = b.page
        page.locator("#agreement").wait_for()
        assert page.input_value("#model") == "en"
        assert _tile(b, "Requests") == "30"  # the shadow rows are not answers
        pairs = _db(
            server,
            "SELECT count(*), sum(p.label = s.label) FROM request_log s JOIN request_log p"
            " ON p.request_id = s.request_id AND p.item_index = s.item_index AND p.role = 'primary'"
            " WHERE s.role = 'shadow'",
        )
        assert pairs[0][0] == 30
        assert page.inner_text("#agreement") == f"{100 * pairs[0][1] / 30:.1f}%"
        assert "Candidate " in page.inner_text("#candidate-line") and "shadow 100%" in page.inner_text(
            "#candidate-line"
        )
        page.screenshot(path=str(shots / "console-compare.png"), full_page=True)

        page.select_option("#model", "tickets")
        _eventually(lambda: "No candidate runs for model tickets" in page.inner_text("#candidate-line"), "tickets")
        assert _tile(b, "Requests") == "1"
        page.select_option("#model", "en")
        page.locator("#stop-candidate").wait_for()
        page.click("#stop-candidate")
        _eventually(lambda: "No candidate runs for model en" in page.inner_text("#candidate-line"), "stopped")
        assert page.locator("#agreement").is_visible()  # the window's shadow rows stay comparable
        assert _db(server, "SELECT model_dir FROM candidates ORDER BY id DESC LIMIT 1") == [(None,)]
        assert b.errors == [] and b.outside == []
    finally:
        server.stop()
