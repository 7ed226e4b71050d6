"""scripts/dashboard.sh: the ZenML dashboard (the `dashboard` extra) served on loopback
from the project's store, leaving the client on that store; in headless Chromium it opens
on the pipelines, not a sign-up form, and a pipeline's run shows its steps."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode(errors="replace")
    except OSError:
        return None


def test_bad_port_is_refused(repo_root):
    done = subprocess.run(
        ["bash", str(repo_root / "scripts" / "dashboard.sh")],
        env={**os.environ, "ZENML_DASHBOARD_PORT": "80a"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ZENML_DASHBOARD_PORT must be a port number (1-65535), got '80a'" in done.stderr


def _require_server() -> None:
    pytest.importorskip("zenml.zen_server.deploy", reason="the dashboard extra is not installed")
    for module in ("uvicorn", "fastapi", "jwt", "multipart"):  # what ZenML's server checks
        pytest.importorskip(module, reason="the dashboard extra is not installed")


@contextmanager
def _dashboard(repo_root: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """`bash scripts/dashboard.sh` on a free port until healthy; yields its URL and what
    it printed before the server's own log, and stops it as Ctrl+C would."""
    port = _free_port()
    log_path = tmp_path / "dashboard.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        ["bash", str(repo_root / "scripts" / "dashboard.sh")],
        env={**os.environ, **env, "ZENML_DASHBOARD_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _get(f"{url}/health") is None:
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        yield url, log_path.read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    assert _get(f"{url}/health") is None


@pytest.mark.slow
def test_dashboard_serves_on_loopback_and_leaves_the_client_alone(repo_root, tmp_path):
    _require_server()
    config = tmp_path / "zenml"  # its own store: the session's is left alone
    with _dashboard(repo_root, tmp_path, {"ZENML_CONFIG_PATH": str(config)}) as (url, _):
        assert "<title>ZenML Dashboard</title>" in (_get(url) or "")
        # loopback only: the server is not reachable on the machine's other addresses
        port = url.rsplit(":", 1)[1]
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    # the client still uses the local store, not a server that is gone
    assert f":{port}" not in (config / "config.yaml").read_text()


DATA_STEPS = [
    "fingerprint_data",
    "ingest_data",
    "validate_data",
    "split_folds",
    "write_tfrecord_shards",
    "summarize_data",
]


@pytest.mark.slow
def test_a_pipeline_run_opens_in_a_browser_with_its_steps(repo_root, real_data_dir, tmp_path):
    """The data pipeline, run the way configs/data.yaml says, in a store of its own; then
    the dashboard from the link the script prints, as a user clicks through it: the
    pipeline, its run, the run's DAG with every step."""
    _require_server()
    from mlflow_ui import CHROMIUM, CHROMIUM_ARGS, OUTPUT, require_browser

    require_browser()
    from playwright.sync_api import expect, sync_playwright

    (tmp_path / "repo" / ".zen").mkdir(parents=True)
    env = {
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        # its own repository too: the session's records a stack of the session's store
        "ZENML_REPOSITORY_PATH": str(tmp_path / "repo"),
    }
    config = yaml.safe_load((repo_root / "configs" / "data.yaml").read_text())
    config["parameters"]["job"] = {
        "data_dir": str(real_data_dir),
        "output_root": str(tmp_path / "outputs"),
        "ingest_workers": 1,
        "split": {"mode": "random", "n_folds": 2},
        "tfrecords": {"workers": 1},
    }
    config_path = tmp_path / "data.yaml"
    config_path.write_text(yaml.safe_dump(config))
    zenml = Path(sys.executable).parent / "zenml"
    done = subprocess.run(
        [str(zenml), "pipeline", "run", "pipelines.data.data_pipeline", "-c", str(config_path)],
        cwd=repo_root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    with _dashboard(repo_root, tmp_path, env) as (url, printed):
        (link,) = re.findall(r"^dashboard: (http://\S+)", printed, re.M)
        assert link == f"{url}/projects/default/pipelines"
        with urllib.request.urlopen(f"{url}/api/v1/runs", timeout=10) as response:
            (run,) = json.load(response)["items"]
        OUTPUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                # the landing page, not the sign-up survey
                page.goto(url)
                expect(page.get_by_text("Welcome back, default")).to_be_visible(timeout=60_000)
                assert "/survey" not in page.url, page.url
                page.goto(link)
                page.get_by_role("link", name="data_pipeline", exact=True).first.click()
                page.get_by_role("link", name=run["name"]).first.click()
                expect(page).to_have_url(re.compile(f"/runs/{run['id']}"), timeout=60_000)
                # the DAG: one node per step, each named
                nodes = page.locator(".react-flow__node-step")
                expect(nodes).to_have_count(len(DATA_STEPS), timeout=60_000)
                for name in DATA_STEPS:
                    expect(nodes.get_by_text(name, exact=True)).to_be_visible()
                page.screenshot(path=str(OUTPUT / "dashboard-run.png"))
            finally:
                browser.close()
    assert (OUTPUT / "dashboard-run.png").stat().st_size > 10_000
