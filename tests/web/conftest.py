"""Fixtures of the web tests: the app in-process (TestClient) and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = os.environ.get("KETASIM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

#: A small valid scenario: one person, two regimens, one day at 10-min steps.
PERSON = {"name": "web-test", "end": "1 d", "step": "10 min",
          "population": {"n": 1, "weight": 70, "age": 40, "female_fraction": 0},
          "arms": [{"regimen": "0.5 mg/kg iv over 40 min"}, {"regimen": "84 mg esketamine intranasal"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``ketasim serve`` in a child process on 127.0.0.1 and a free port; ``stop`` kills it (SIGKILL)."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir, self.extra = Path(data_dir), extra
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Server":
        self.port = free_port()
        cmd = [sys.executable, "-c", "import sys; from ketasim.cli import main; sys.exit(main(sys.argv[1:]))",
               "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning",
               *self.extra]
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   + Path(self.log.name).read_text(errors="replace")[-2000:])
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not answer /api/health in time")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None
        self.log.close()


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from ketasim.web import Settings, create_app

    app = create_app(Settings(data_dir=str(tmp_path / "web"), rate_limit=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_client(tmp_path):
    """Build a TestClient with given settings (closed at the end)."""
    from fastapi.testclient import TestClient

    from ketasim.web import Settings, create_app

    made = []

    def make(**kw):
        kw.setdefault("data_dir", str(tmp_path / "web"))
        c = TestClient(create_app(Settings(**kw)), raise_server_exceptions=False)
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


@pytest.fixture
def server(tmp_path):
    (tmp_path / "web").mkdir()
    s = Server(tmp_path / "web").start()
    yield s
    s.stop()
