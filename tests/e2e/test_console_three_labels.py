"""The console with a negative / neutral / positive model, in headless Chromium against a real
`python -m service`: Try shows three coloured bars, the polarity and `mixed`; Review corrects a
prediction to neutral; Monitor's label mix has neutral in its own colour.

Needs Debian's chromium and the `playwright` package, as tests/e2e/test_console_browser.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN, ServerProcess
from tests.e2e.test_console_browser import (  # noqa: F401 - fixtures
    Browser,
    _db,
    _eventually,
    _require_browser,
    chromium,
    chromium_profile,
)
from tests.support.three_labels import make_three_label_artifact

pytestmark = pytest.mark.e2e

MIXED = "The movie was great. The plot was awful!"
GREY, GREEN, RED = "rgb(110, 119, 129)", "rgb(31, 136, 61)", "rgb(207, 34, 46)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    _require_browser()
    root = tmp_path_factory.mktemp("three-console")
    env = {
        "SENTIMENT_MODEL_DIR": str(make_three_label_artifact(root / "artifact")),
        "SENTIMENT_API_KEYS": "three-labels-predict-key",  # a key on every page: one login, kept by the tab
        "SENTIMENT_LOG_FLUSH_MS": "10",
    }
    process = ServerProcess.start(root / "requests.db", env)
    yield process
    process.stop()


@pytest.fixture()
def browser(server: ServerProcess, chromium: Callable[[str], Browser]) -> Browser:  # noqa: F811
    return chromium(server.url)


def _background(page: object, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))  # type: ignore[attr-defined]


def test_try_review_and_monitor_with_neutral(browser: Browser, server: ServerProcess) -> None:
    b, page = browser, browser.page
    b.goto("/console")
    page.fill('#login input[name="key"]', ADMIN)
    page.locator("#login button[type=submit]").click()
    page.locator("#model-line").filter(has_text="negative, neutral, positive").wait_for()

    # Try: three bars, each filled in its label's colour; polarity; the mixed badge and per-sentence polarity.
    page.fill("#text", "The movie.")
    page.click("#classify")
    page.locator("#history tbody tr").first.wait_for()
    assert page.inner_text("#label") == "neutral" and _background(page, "#label") == GREY
    bars = page.locator("#probabilities .bar")
    assert [bars.nth(i).locator(".name").inner_text() for i in range(bars.count())] == [
        "negative", "neutral", "positive",
    ]  # fmt: skip
    fills = [_background(page, f"#probabilities .bar:nth-child({i}) .fill") for i in (1, 2, 3)]
    assert fills == [RED, GREY, GREEN]
    assert "polarity" in page.inner_text("#score") and page.locator("#mixed").is_hidden()
    page.fill("#text", MIXED)
    page.click("#classify")
    page.locator("#history tbody tr").nth(1).wait_for()
    assert page.locator("#mixed").is_visible()
    sentences = page.locator("#sentence-list li")
    assert sentences.count() == 2
    assert sentences.nth(0).inner_text().startswith("positive") and "+0.8" in sentences.nth(0).inner_text()
    assert sentences.nth(1).inner_text().startswith("negative") and "−0.8" in sentences.nth(1).inner_text()

    # Review: a button for each of the three labels; correct the positive text to neutral.
    texts = ["The movie was great.", "The plot was awful!"]
    answer = httpx.post(server.url + "/v1/sentiment/batch", json={"texts": texts}, headers={"X-API-Key": ADMIN})
    assert [r["label"] for r in answer.json()["results"]] == ["positive", "negative"]
    request_id = answer.json()["request_id"]
    b.goto("/console/review")
    item = page.locator(f'#queue article[data-request-id="{request_id}"][data-item-index="0"]')
    item.wait_for()
    assert sorted(item.locator("button").all_inner_texts()) == [
        "Correct → negative", "Correct → neutral", "✓ Confirm positive",
    ]  # fmt: skip
    item.locator('button[data-label="neutral"]').click()
    item.locator(".status.saved").wait_for()
    assert _db(server, "SELECT label FROM feedback WHERE request_id = ?", request_id) == [("neutral",)]
    assert "neutral" in page.locator("#f-label").all_inner_texts()[0]

    # Monitor: the label mix counts neutral, in grey (not red or green whatever its place).
    b.goto("/console/monitor")
    page.locator("#monitor-body").wait_for()
    mix = "(() => { const c = Chart.getChart('chart-labels'); return c && [c.data.labels, c.data.datasets[0]]; })()"
    _eventually(lambda: bool(page.evaluate(mix)) and "neutral" in page.evaluate(mix)[0], "neutral in the label mix")
    labels, dataset = page.evaluate(mix)
    colours = dict(zip(labels, dataset["backgroundColor"], strict=True))
    counts = dict(zip(labels, dataset["data"], strict=True))
    assert colours == {"neutral": "#6e7781", "positive": "#1f883d", "negative": "#cf222e"}
    assert counts == {"neutral": 1, "positive": 2, "negative": 1}  # the mixed text leans positive as a whole
    assert b.errors == [] and b.outside == []


def test_the_three_label_artifact_reads_as_labelled() -> None:
    """What the browser test above relies on, checked without a browser."""
    import tempfile

    from model import load_predictor

    with tempfile.TemporaryDirectory() as folder:
        predictor = load_predictor(make_three_label_artifact(Path(folder) / "a"))
        labels = [p.label for p in predictor.predict(["The movie.", MIXED, "The movie was great."])]
    assert labels == ["neutral", "positive", "positive"]
