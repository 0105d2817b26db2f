"""The demo page in a real browser (Debian's chromium through playwright) against the live server,
the page's files as the server hands them out, and the page on a server that needs a token."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

from mathpe_jax.serve import Settings
from tests.serve.conftest import MODEL_PES, LiveServer, fixed_answer_app

# A model's first request compiles its decoding; later ones are quick.
SLOW_MS = 120_000
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PAGE_IDS = ["problem", "gold", "source", "example", "max-new-tokens", "solve", "results", "error", "model-list",
            "auth", "token"]
TOKEN = "page-0123456789abcdef"


def chromium_path() -> str:
    """``MATHPE_CHROMIUM``, else the ``chromium`` on PATH; the test fails (not skips) without one."""
    path = os.environ.get("MATHPE_CHROMIUM") or shutil.which("chromium")
    if not path or not Path(path).exists():
        pytest.fail(
            "no chromium browser found for the demo page's browser test: `apt-get install chromium` "
            "(or set MATHPE_CHROMIUM to a chromium executable)",
            pytrace=False,
        )
    return path


def test_demo_page_and_its_files_are_served(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for element_id in PAGE_IDS:
            assert f'id="{element_id}"' in page.text, element_id
        assert 'src="/static/demo.js"' in page.text
        assert 'href="/static/demo.css"' in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing from outside: the demo runs offline

        script = client.get("/static/demo.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "/compare" in script.text and "/attention" in script.text
        assert "innerHTML" not in script.text  # model output is shown as text only

        style = client.get("/static/demo.css")
        assert style.status_code == 200
        assert style.headers["content-type"].startswith("text/css")
        assert ".result-card" in style.text

        missing = client.get("/static/nothing.js")
        assert missing.status_code == 404
        assert missing.json()["error"]


@pytest.mark.browser
@pytest.mark.slow
def test_demo_in_a_browser(live_server, tmp_path):
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("the demo's browser test needs playwright: `pip install playwright`", pytrace=False)
    expect = sync_api.expect
    executable = chromium_path()
    screenshot = Path(os.environ.get("MATHPE_SCREENSHOT") or tmp_path / "demo.png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            script_errors: list[str] = []
            page.on("pageerror", lambda err: script_errors.append(str(err)))  # the page's script failed
            page.goto(live_server.url, wait_until="load")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
            expect(page.locator("#error")).to_be_hidden()

            # Models: one checkbox per served model, all checked, each showing its PE and size.
            for name, pe in MODEL_PES.items():
                box = page.locator(f'#model-list input[data-model="{name}"]')
                expect(box).to_be_checked()
                option = page.locator(f'.model-option:has(input[data-model="{name}"])')
                expect(option).to_contain_text(pe)
                expect(option).to_contain_text("params")

            # A refused problem: the API's one-line error is shown, and no result card.
            page.fill("#problem", "abc")
            page.click("#solve")
            error = page.locator("#error")
            expect(error).to_be_visible(timeout=SLOW_MS)
            expect(error).to_contain_text("character 'a' is not in the tokenizer alphabet")
            expect(page.locator("#problem")).to_have_class(re.compile(r"\binvalid\b"))
            expect(page.locator(".result-card")).to_have_count(0)

            # An example of a synthetic task fills the problem and the gold answer.
            page.select_option("#source", "rope")
            expect(page.locator("#example")).to_be_enabled(timeout=30_000)
            page.select_option("#example", index=1)
            problem = page.input_value("#problem")
            gold = page.input_value("#gold")
            assert problem.strip() and problem != "abc"
            assert gold.strip()
            expect(error).to_be_hidden()

            page.click("#solve")
            for name in MODEL_PES:
                card = page.locator(f'.result-card[data-model="{name}"]')
                expect(card).to_be_visible(timeout=SLOW_MS)
                expect(card.locator(".answer")).not_to_be_empty()
                # A gold answer was given, so every answer is graded.
                expect(card.locator(".verdict")).to_have_text(re.compile(r"correct|wrong"))
                assert card.locator(".verdict").get_attribute("data-verdict") in ("correct", "wrong")
                expect(card.locator(".latency")).to_have_text(re.compile(r"^[\d,]+ ms$"))
                expect(card.locator(".tokens")).to_have_text(re.compile(r"\d+ prompt \+ \d+ new"))
                expect(card.locator(".completion")).to_be_visible()
                # The completion is text, never markup.
                assert card.locator(".completion").evaluate("node => node.children.length") == 0
                heatmap = card.locator("canvas.heatmap")
                expect(heatmap).to_have_attribute("data-drawn", "true", timeout=SLOW_MS)
                assert painted_pixels(heatmap) > 0
            expect(error).to_be_hidden()
            expect(page.locator(".result-card")).to_have_count(len(MODEL_PES))

            # Another layer and head redraw the map; hovering names the query and key tokens.
            card = page.locator('.result-card[data-model="rope"]')
            card.locator("select.layer").select_option("1")
            card.locator("select.head").select_option("1")
            heatmap = card.locator("canvas.heatmap")
            expect(heatmap).to_have_attribute("data-layer", "1", timeout=SLOW_MS)
            expect(heatmap).to_have_attribute("data-head", "1", timeout=SLOW_MS)
            expect(heatmap).to_have_attribute("data-drawn", "true", timeout=SLOW_MS)
            box = heatmap.bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0
            heatmap.hover(position={"x": box["width"] - 4, "y": box["height"] - 4})
            expect(card.locator(".heat-info")).to_contain_text("query #", timeout=10_000)

            page.mouse.move(0, 0)
            page.screenshot(path=str(screenshot), full_page=True)
            assert not script_errors, script_errors
        finally:
            browser.close()

    assert screenshot.is_file()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_asks_for_the_token_and_keeps_it_in_the_tab():
    from playwright import sync_api

    expect = sync_api.expect
    server = LiveServer(fixed_answer_app("97", Settings(max_wait_s=0.0, token=TOKEN)))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                sent: list[str] = []
                page.on("request", lambda request: sent.append(request.url))
                page.goto(server.url, wait_until="load")
                expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
                expect(page.locator("#auth")).to_be_visible()
                expect(page.locator("#auth-message")).to_contain_text("this server needs a token")
                expect(page.locator("#error")).to_be_hidden()

                page.fill("#token", TOKEN[:-1] + "x")
                page.click("#token-submit")
                expect(page.locator("#auth-message")).to_have_text("the bearer token is wrong")
                page.fill("#token", TOKEN)
                page.click("#token-submit")
                expect(page.locator('#model-list input[data-model="fixed"]')).to_be_checked()
                expect(page.locator("#auth")).to_be_hidden()
                page.fill("#problem", "12+34=")
                page.click("#solve")
                expect(page.locator('.result-card[data-model="fixed"] .answer')).to_have_text("97", timeout=SLOW_MS)

                page.reload(wait_until="load")  # the tab keeps the token
                expect(page.locator('#model-list input[data-model="fixed"]')).to_be_checked(timeout=30_000)
                expect(page.locator("#auth")).to_be_hidden()

                fresh = browser.new_page()  # a link with the token in its fragment, which no request carries
                fresh.on("request", lambda request: sent.append(request.url))
                fresh.goto(f"{server.url}/#token={TOKEN}", wait_until="load")
                expect(fresh.locator('#model-list input[data-model="fixed"]')).to_be_checked(timeout=30_000)
                assert fresh.url == f"{server.url}/"  # taken out of the address bar and the history
                assert not any(TOKEN in url for url in sent)
            finally:
                browser.close()
    finally:
        server.stop()


def painted_pixels(canvas) -> int:
    """How many of the canvas's pixels are drawn (not fully transparent)."""
    return canvas.evaluate(
        """canvas => {
            if (!canvas.width || !canvas.height) return 0;
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
            return painted;
        }"""
    )
