"""FLAN-T5 on first use: a Hub id that is not cached is downloaded unless the user says
offline (`--offline`, config `offline`, or HF_HUB_OFFLINE=1). The Hub is a loopback
server here that records what is asked of it and has no models, so the test sees the
download being attempted (or not) without any network."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def run_islr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`islr ARGS` in a fresh process, with exactly `env` (HF_HUB_OFFLINE is read there)."""
    return subprocess.run(
        [sys.executable, "-m", "islr.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


class FakeHub:
    def __init__(self) -> None:
        self.paths: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _missing(self):
                hub.paths.append(self.path)
                body = b'{"error": "Repository not found"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _missing

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hub():
    fake = FakeHub()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_translate_downloads_on_first_use_unless_offline(hub, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_ETAG_TIMEOUT="5")
    args = ["translate", "--checkpoint", "islr-test/flan-t5-tiny", "hello", "thankyou"]

    # online: the id is not cached, so the composer asks the Hub for it
    done = run_islr(*args, env=env)
    assert done.returncode != 0
    assert "downloading islr-test/flan-t5-tiny into" in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("islr translate: error:")]
    assert f"download from {hub.url} failed" in line and "--backend plain" in line
    assert any("islr-test/flan-t5-tiny" in p for p in hub.paths), hub.paths

    # --offline, and HF_HUB_OFFLINE=1 without it: the cache only, no request at all
    asked = len(hub.paths)
    for extra, offline_env in ((["--offline"], {}), ([], {"HF_HUB_OFFLINE": "1"})):
        done = run_islr(*args[:1], *extra, *args[1:], env={**env, **offline_env})
        assert done.returncode != 0
        assert "is not available offline: no directory of that name and not in" in done.stderr
        assert "hf download google/flan-t5-base" in done.stderr
        assert len(hub.paths) == asked
