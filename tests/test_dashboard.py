"""scripts/dashboard.sh: the ZenML dashboard (the `dashboard` extra) served on loopback
from the project's store, leaving the client on that store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest


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


@pytest.mark.slow
def test_dashboard_serves_on_loopback_and_leaves_the_client_alone(repo_root, tmp_path):
    pytest.importorskip("zenml.zen_server.deploy", reason="the dashboard extra is not installed")
    for module in ("uvicorn", "fastapi", "jwt", "multipart"):  # what ZenML's server checks
        pytest.importorskip(module, reason="the dashboard extra is not installed")
    port = _free_port()
    config = tmp_path / "zenml"  # its own store: the session's is left alone
    log = (tmp_path / "dashboard.log").open("w")
    process = subprocess.Popen(
        ["bash", str(repo_root / "scripts" / "dashboard.sh")],
        env={**os.environ, "ZENML_CONFIG_PATH": str(config), "ZENML_DASHBOARD_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _get(f"{url}/health") is None:
            assert process.poll() is None, (tmp_path / "dashboard.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "dashboard.log").read_text()[-3000:]
            time.sleep(0.5)
        assert "<title>ZenML Dashboard</title>" in (_get(url) or "")
        # loopback only: the server is not reachable on the machine's other addresses
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    assert _get(f"{url}/health") is None
    # the client still uses the local store, not a server that is gone
    assert f":{port}" not in (config / "config.yaml").read_text()
