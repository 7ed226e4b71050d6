"""The MLflow UI in headless Chromium: open the URL the main job's summary gives and
read the training runs' test metrics off the runs table, as a user would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUTPUT = Path(os.environ.get("ISLR_TEST_OUTPUT", Path(__file__).parents[1] / "outputs/test-output"))


def require_browser() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} is missing; install it with `bash scripts/browser.sh`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def runs_url_from_summary(summary: str) -> str:
    (url,) = re.findall(r"^\s+(https?://\S+/#/experiments/\d+/runs)$", summary, re.M)
    return url


def runs_table_metric(
    url: str,
    parent: str,
    metric: str,
    runs: list[str],
    screenshot: str = "mlflow-runs-table.png",
) -> dict[str, str]:
    """Open `url`, show the `metric` column, expand the pipeline run `parent`, and return
    what the table shows in that column for each of `runs` (nested under it); the page
    goes to `screenshot` in the test output."""
    from playwright.sync_api import sync_playwright

    shown: dict[str, str] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            page.get_by_text(parent, exact=True).wait_for(timeout=90_000)
            page.get_by_role("button", name="Columns").click()
            page.get_by_text(metric, exact=True).click()
            page.keyboard.press("Escape")
            # the expander of a parent run: its children are collapsed under it
            page.get_by_role("row").filter(has_text=parent).first.locator(
                "button[data-component-id*='runnamecellrenderer']"
            ).click()
            for name in runs:
                # the row whose name is `name`, not one whose name only starts with it
                # (train_cnn, train_cnn_bigru)
                row = page.get_by_role("row").filter(has=page.get_by_text(name, exact=True)).first
                row.wait_for(timeout=30_000)
                # the grid draws a row in parts (pinned name column, scrolled metrics)
                parts = page.locator(f'[row-id="{row.get_attribute("row-id")}"]')
                shown[name] = " | ".join(p.inner_text() for p in parts.all())
            OUTPUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT / screenshot))
        finally:
            browser.close()
    return shown


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def serving(command: list[str], url: str, log: Path, what: str, **popen) -> Iterator[None]:
    """Run an MLflow server `command` (output to `log`) until its /health answers; stop
    its whole process group (the server's workers too) on exit."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )
        try:
            deadline = time.monotonic() + 120
            while not healthy(url):
                if process.poll() is not None:
                    pytest.fail(f"{what} exited: {log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no /health in 120 s: {log.read_text()[-3000:]}")
                time.sleep(0.5)
            yield
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
