"""Start the API in a subprocess on loopback (the demo and the serving benchmark use it)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle: Path, db: Path, port: int, api_keys: dict[str, str], workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """``uvicorn serving.app:app`` on 127.0.0.1:port with its own SQLite file (no access log)."""
    env = {**os.environ, "BIOMETRICS_BUNDLE_PATH": str(bundle), "BIOMETRICS_DATABASE_URL": f"sqlite:///{db}",
           "BIOMETRICS_API_KEYS": json.dumps(api_keys), **(extra_env or {})}
    cmd = [sys.executable, "-m", "uvicorn", "serving.app:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def wait_ready(base_url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``/readyz`` until the server answers 200; raise if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with code {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the API server was not ready within {timeout:.0f} s")


@contextlib.contextmanager
def running_server_process(bundle: Path, db: Path, api_keys: dict[str, str], workers: int = 1,
                           extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A ready server for the duration of the block; yields its base URL and its process
    (benchmarks read the process tree's CPU time and memory) and stops it after."""
    port = free_port()
    proc = start_server(bundle, db, port, api_keys, workers, extra_env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def running_server(bundle: Path, db: Path, api_keys: dict[str, str], workers: int = 1,
                   extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """A ready server for the duration of the block; yields its base URL and stops it after."""
    with running_server_process(bundle, db, api_keys, workers, extra_env) as (base, _):
        yield base
