"""The app for real: `scripts/app.sh` serves it on 127.0.0.1 and Debian's chromium,
driven by Playwright, selects recordings, classifies twice, translates and shows an animation;
then uploads a video, which is extracted, animated and classified.

The browser is installed by `bash scripts/browser.sh`. Without it the test fails under
CI (`CI=true`) and is skipped otherwise. A screenshot of the final page goes to
`$ISLR_TEST_OUTPUT` (default `outputs/test-output`), which CI keeps.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from landmark_fixtures import hopper_clip, landmarks_python  # noqa: F401  (fixtures)

from islr.serving import by_sign, list_recordings, top_k
from islr.serving.classifier import softmax
from islr.text.glosses import plain_sentence

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(os.environ.get("ISLR_TEST_OUTPUT", REPO / "outputs" / "test-output"))
START_TIMEOUT_S = 180
STEP_TIMEOUT_MS = 120_000


def require_browser() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} is missing; install it with `bash scripts/browser.sh`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the app did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def model_file(tmp_path) -> tuple[Path, object]:
    import keras

    from islr.models.zoo import ModelConfig, build_model

    keras.utils.set_random_seed(1)
    model = build_model(
        ModelConfig(architecture="cnn", dim=16, max_len=32, conv_blocks=1, stages=1)
    )
    path = tmp_path / "model.keras"
    model.save(path)
    return path, model


@pytest.fixture
def served_app(model_file, real_data_dir, tmp_path):
    """`bash scripts/app.sh` on a free port; yields its URL and stops it afterwards."""
    require_browser()
    port = free_port()
    log = tmp_path / "app.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                "bash",
                str(REPO / "scripts" / "app.sh"),
                "--model",
                str(model_file[0]),
                "--data",
                str(real_data_dir),
                "--port",
                str(port),
                "--composer-backend",
                "plain",
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one below
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_classify_twice_and_translate_in_a_browser(served_app, model_file, real_data_dir):
    from playwright.sync_api import expect, sync_playwright

    url, log = served_app
    import keras

    groups = by_sign(list_recordings(real_data_dir))
    chosen = [groups["hello"][0], groups["thankyou"][0]]  # the first recording of each
    expected = []
    for recording in chosen:
        logits = keras.ops.convert_to_numpy(model_file[1](recording.frames()[None]))
        expected.append(top_k(softmax(np.asarray(logits, np.float64)[0]), 1)[0].sign)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url)
            classify = page.get_by_role("button", name="Classify")
            expect(classify).to_be_visible(timeout=STEP_TIMEOUT_MS)

            for recording in chosen:
                page.get_by_role("combobox", name="Sign").click()
                page.get_by_role("option", name=f"{recording.sign} (").click()
                expect(page.get_by_role("combobox", name="Recording")).to_have_value(
                    recording.label
                )
                classify.click()
                caption = f"{recording.sign}: {recording.label} · ground truth: {recording.sign}"
                expect(page.get_by_text(caption)).to_be_visible(timeout=STEP_TIMEOUT_MS)

            keywords = page.locator("code").filter(has_text=expected[0]).first
            expect(keywords).to_be_visible()
            # the key words of the second classification may render a moment after its
            # caption: wait for all of them before reading
            expect(page.locator("p code")).to_have_count(len(expected), timeout=STEP_TIMEOUT_MS)
            words = [c.inner_text() for c in page.locator("p code").all()]
            assert words == expected, words

            page.get_by_role("button", name="Translate").click()
            sentence = plain_sentence(expected)
            expect(page.get_by_text(sentence, exact=True)).to_be_visible(timeout=STEP_TIMEOUT_MS)
            expect(page.get_by_text("backend: plain", exact=True)).to_be_visible()
            # the skeleton player runs inside the page, with no network
            page.get_by_role("button", name="Show animation").click()
            player = page.frame_locator("iframe").first
            expect(player.locator("img").first).to_be_visible(timeout=STEP_TIMEOUT_MS)
            expect(page.get_by_text(re.compile(r"^Ground truth: thankyou · "))).to_be_visible()
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            # let the script run finish so the screenshot shows no stale elements
            page.wait_for_timeout(500)
            expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=STEP_TIMEOUT_MS)
            page.screenshot(path=str(OUTPUT / "app.png"), full_page=True)
        finally:
            browser.close()
    assert (OUTPUT / "app.png").stat().st_size > 10_000
    assert "Traceback" not in log.read_text()


def test_upload_a_video_and_classify_it_in_a_browser(
    served_app,
    model_file,
    hopper_clip,  # noqa: F811
    tmp_path,
):
    from playwright.sync_api import expect, sync_playwright

    from islr.data.format import read_recording
    from islr.landmarks import extract_video

    url, log = served_app
    import keras

    extract_video(hopper_clip, tmp_path / "hopper.parquet")
    frames = read_recording(tmp_path / "hopper.parquet")
    logits = keras.ops.convert_to_numpy(model_file[1](frames[None]))
    expected = top_k(softmax(np.asarray(logits, np.float64)[0]), 5)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url)
            video_source = page.get_by_text("Upload a video", exact=True)
            expect(video_source).to_be_visible(timeout=STEP_TIMEOUT_MS)
            video_source.click()
            uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
            expect(uploader).to_have_count(1, timeout=STEP_TIMEOUT_MS)
            uploader.set_input_files(str(hopper_clip))
            caption = (
                "hopper.mp4: 12 frames extracted (face 12, left hand 0, pose 12, right hand 0)."
            )
            expect(page.get_by_text(caption)).to_be_visible(timeout=STEP_TIMEOUT_MS)

            page.get_by_role("button", name="Show animation").click()
            player = page.frame_locator("iframe").first
            expect(player.locator("img").first).to_be_visible(timeout=STEP_TIMEOUT_MS)
            expect(page.get_by_text(re.compile(r"video hopper\.mp4 · 12 frames"))).to_be_visible()

            page.get_by_role("button", name="Classify").click()
            expect(page.get_by_text("Top-5 signs")).to_be_visible(timeout=STEP_TIMEOUT_MS)
            rows = page.locator("table").last.locator("tbody tr")
            expect(rows).to_have_count(5)
            signs = [rows.nth(i).locator("td").first.inner_text() for i in range(5)]
            assert signs == [p.sign for p in expected], signs
            words = [c.inner_text() for c in page.locator("p code").all()]
            assert words == [expected[0].sign], words
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            page.wait_for_timeout(500)
            expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=STEP_TIMEOUT_MS)
            page.screenshot(path=str(OUTPUT / "app-video.png"), full_page=True)
        finally:
            browser.close()
    assert (OUTPUT / "app-video.png").stat().st_size > 10_000
    assert "Traceback" not in log.read_text()
