"""Runs README commands as ``python -m MODULE ...`` / ``python SCRIPT ...`` would, in processes
forked from one that has already imported the heavy libraries.

Each README check (``--help``, Hydra's ``--cfg job``) used to start a fresh interpreter that
imported torch and Lightning again: about 5 s each, over 40 times in CI. Here a forkserver
imports them once; every command still runs in its own fresh child (its own ``sys.argv``,
environment, working directory and ``sys.modules`` past the preloaded libraries), through
:mod:`runpy` with ``run_name="__main__"``, as the interpreter runs it.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

#: Imported once by the forkserver; the project's own packages are left to each child, so a
#: script's directory on ``sys.path`` still decides what ``import serving`` finds, as in Python.
PRELOAD = ["numpy", "scipy.stats", "torch", "pytorch_lightning", "hydra", "omegaconf", "fastapi",
           "pydantic", "sqlalchemy", "matplotlib.pyplot"]


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


@functools.cache
def interpreter_path() -> tuple[str, ...]:
    """``sys.path`` of a fresh interpreter past its first entry (pytest adds folders to ours)."""
    out = subprocess.run([sys.executable, "-c", "import sys, json; print(json.dumps(sys.path[1:]))"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return tuple(json.loads(out))


def run_command(argv: list[str], cwd: str, env: dict[str, str], path: tuple[str, ...]) -> tuple[int, str]:
    """Run ``argv`` (``[python, "-m", module, ...]`` or ``[python, script, ...]``) in this process
    with the interpreter's ``path``: (exit code, the tail of its stderr). Meant for a fresh child."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    log = tempfile.TemporaryFile(mode="w+")
    sys.stdout.flush()
    sys.stderr.flush()
    for fd in (1, 2):
        os.dup2(log.fileno(), fd)
    sys.stdout = sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    args = argv[1:]
    try:
        if args[0] == "-m":
            sys.argv = [args[1]] + args[2:]
            sys.path[:] = [cwd, *path]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            script = str(Path(cwd, args[0]))
            sys.argv = [args[0]] + args[1:]
            sys.path[:] = [str(Path(script).parent), *path]
            runpy.run_path(script, run_name="__main__")
        rc = 0
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException:  # noqa: BLE001 - reported as the interpreter would, exit code 1
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    log.seek(0)
    return rc, log.read()[-4000:]


def forked_runner() -> ProcessPoolExecutor:
    """A pool whose every task runs in a new child forked from a server with :data:`PRELOAD`
    imported (one task per child, so no command sees another's state)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1)
