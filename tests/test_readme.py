"""Every command in README.md runs as shown (issue 13.10).

- The API block (the ```bash block that starts ``uvicorn serving.app:app``) runs for real, as
  written, in bash: only its port is replaced by a free one and the profile store is a
  temporary SQLite file (``BIOMETRICS_DATABASE_URL``). ``curl`` is wrapped so that every call's
  HTTP status is recorded: the enroll calls, the score and the reads must be 200, the DELETE
  204 (the readiness wait may see refused connections or 503 before the server is up).
- Every other command (the ```bash blocks and `python ...` in the prose: training, export,
  bench, demo) names a module or script that exists, and ``--help`` exits 0; a Hydra entry
  point instead composes its config with the given overrides (``--cfg job``, no training;
  a ``-m`` sweep is composed once per point of the sweep). Shell variables the block sets
  (``RUN_DIR=$(...)``) are evaluated as the block would. Each runs in a fresh child forked from
  an interpreter that imported torch and Lightning once (``readme_runner``), as ``python`` would.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from readme_runner import forked_runner, interpreter_path, run_command

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
API_BLOCK_START = "uvicorn serving.app:app"
README_PORT = "8000"
#: Seconds a --help or --cfg job may take on a busy 2-core machine (imports torch, Lightning).
COMMAND_TIMEOUT_S = 180


def bash_blocks(text: str) -> list[str]:
    """The bodies of the README's ```bash blocks."""
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def inline_commands(text: str) -> list[str]:
    """`python ...` and `cd DIR && npm ...` commands quoted in the prose (outside code blocks)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.findall(r"`((?:[A-Z_]+=\S+ )*python [^`]+|cd \S+ && npm [^`]+)`", prose)


def logical_lines(block: str) -> list[str]:
    """The block's lines with backslash continuations joined."""
    return block.replace("\\\n", " ").splitlines()


def api_block() -> str:
    blocks = [b for b in bash_blocks(README.read_text()) if b.lstrip().startswith(API_BLOCK_START)]
    assert len(blocks) == 1, f"README.md needs one ```bash block starting with `{API_BLOCK_START}`"
    return blocks[0]


def readme_commands() -> list[str]:
    """Every command line of the README except the API block, in order, deduplicated.

    Lines of a block are kept with the variable assignments before them (``NAME=$(...)``)."""
    out: list[str] = []
    for block in bash_blocks(README.read_text()):
        if block.lstrip().startswith(API_BLOCK_START):
            continue
        assignments: list[str] = []
        for line in logical_lines(block):
            code = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if not code:
                continue
            if re.fullmatch(r"[A-Z_]+=\$\(.*\)", code):
                assignments.append(code)
                continue
            used = [a for a in assignments if "$" + a.split("=", 1)[0] in code
                    or "${" + a.split("=", 1)[0] + "}" in code]
            for part in code.split("&&"):
                out.append("; ".join(used + [part.strip()]))
    out += [c.strip() for c in inline_commands(README.read_text())]
    return list(dict.fromkeys(out))


@functools.cache
def _evaluate(assignment: str) -> tuple[str, str]:
    """``NAME=$(cmd)`` as bash sets it in the project root; a placeholder when it comes out empty
    (e.g. no run directory yet on a fresh clone)."""
    name, expr = assignment.split("=", 1)
    value = subprocess.run(["bash", "-c", f"echo {expr}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=30, check=False).stdout.strip()
    return name, value or "logs/example/runs/none"


def _expand(command: str) -> tuple[list[str], dict[str, str]]:
    """A command with its block's variables substituted: (argv, environment prefix)."""
    *assignments, line = command.split("; ")
    for assignment in assignments:
        name, value = _evaluate(assignment)
        line = line.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in line and "<" not in line and "..." not in line, \
        f"README command is not runnable as shown (placeholder left): {line}"
    argv = shlex.split(line)
    env = {}
    while argv and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
        k, v = argv.pop(0).split("=", 1)
        env[k] = v
    return argv, env


def _is_hydra_entry(source: Path) -> bool:
    return "@hydra.main" in source.read_text()


def _sweep_points(overrides: list[str]) -> list[list[str]]:
    """A ``-m`` sweep's overrides, one list per point (``k=a,b`` gives two)."""
    choices = []
    for o in overrides:
        key, _, value = o.partition("=")
        values = value.split(",") if "," in value and not value.startswith(("[", "{")) else [value]
        choices.append([f"{key}={v}" for v in values])
    return [list(p) for p in itertools.product(*choices)]


def check_invocations(command: str) -> list[list[str]]:
    """What to run to check a README command: argv lists (python commands), or [] after a static check."""
    argv, _ = _expand(command)
    if argv[:2] == ["pip", "install"]:
        extras = re.findall(r"\.\[([\w,]+)\]", " ".join(argv))
        declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        for extra in ",".join(extras).split(","):
            assert not extra or extra in declared, f"pyproject.toml has no extra {extra!r}: {command}"
        return []
    if argv[:1] == ["cd"] or argv[:1] == ["npm"]:  # `cd collector && npm test`: the script exists
        return []
    assert argv[0] == "python", f"unexpected README command: {command}"
    args = argv[1:]
    if args[0] == "-m":
        module, rest = args[1], args[2:]
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, f"no module {module} (README: {command})"
        source, head = Path(spec.origin), [sys.executable, "-m", module]
    else:
        source, rest = ROOT / args[0], args[1:]
        assert source.is_file(), f"no script {args[0]} (README: {command})"
        head = [sys.executable, str(source)]
    if not _is_hydra_entry(source):
        return [head + rest + ["--help"]]
    sweep = "-m" in rest or "--multirun" in rest
    overrides = [a for a in rest if a not in ("-m", "--multirun")]
    points = _sweep_points(overrides) if sweep else [overrides]
    return [head + p + ["--cfg", "job"] for p in points]


def _npm_script_exists(command: str) -> None:
    m = re.fullmatch(r"cd (\S+) && npm (?:run )?(\w+)", command)
    if m:
        import json

        scripts = json.loads((ROOT / m[1] / "package.json").read_text())["scripts"]
        assert m[2] in scripts, f"{m[1]}/package.json has no script {m[2]!r} (README: {command})"


COMMANDS = readme_commands()


def test_the_readme_has_the_commands_it_documents():
    joined = "\n".join(COMMANDS)
    for needle in ("python -m serving.demo", "python -m training.train", "python -m training.evaluate",
                   "python -m training.export", "python bench/", "pip install"):
        assert needle in joined, needle


@pytest.fixture(scope="module")
def runner():
    """Children forked from one interpreter that imported torch and Lightning once."""
    with forked_runner() as pool:
        yield pool


def _run(runner, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    return runner.submit(run_command, argv, str(ROOT), env, interpreter_path()).result(timeout=COMMAND_TIMEOUT_S)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs_as_shown(command, runner):
    _npm_script_exists(command)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOMETRICS_")}
    env["OMP_NUM_THREADS"] = "1"
    _, prefix = _expand(command)
    env.update(prefix)
    for argv in check_invocations(command):
        rc, stderr = _run(runner, argv, env)
        assert rc == 0, (f"README command `{command}` does not run: "
                         f"`{shlex.join(argv[1:])}` exited {rc}\n{stderr[-2000:]}")


def test_the_runner_reports_a_failing_command(runner):
    """The forked runner is not a check that cannot fail: a bad override or option exits non-zero."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    bad_hydra = [sys.executable, "-m", "training.train", "experiment=no_such_experiment", "--cfg", "job"]
    bad_option = [sys.executable, "-m", "training.evaluate_bundle", "--no-such-option"]
    for argv in (bad_hydra, bad_option):
        rc, stderr = _run(runner, argv, env)
        assert rc != 0 and stderr, argv


# The API block, for real ------------------------------------------------------------

CURL_WRAPPER = """#!/bin/sh
# Records each call's arguments, exit code and HTTP status line; passes output through.
n=$(date +%s%N)
"$REAL_CURL" -D "$CURL_LOG/$n.headers" "$@"
rc=$?
printf '%s\\n' "$*" > "$CURL_LOG/$n.args"
echo $rc > "$CURL_LOG/$n.rc"
exit $rc
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _calls(log: Path) -> list[tuple[str, int, int | None]]:
    """(arguments, exit code, HTTP status) of every curl call, in order."""
    out = []
    for args in sorted(log.glob("*.args"), key=lambda p: int(p.stem)):
        headers = args.with_suffix(".headers")
        status = None
        if headers.is_file() and (first := headers.read_text().split("\n", 1)[0]).startswith("HTTP/"):
            status = int(first.split()[1])
        out.append((args.read_text().strip(), int(args.with_suffix(".rc").read_text()), status))
    return out


def test_the_api_block_runs_as_written(tmp_path):
    real_curl = shutil.which("curl")
    if real_curl is None:
        pytest.skip("curl is not installed: the README's API block needs it")
    port = str(_free_port())
    block = api_block()
    assert f"--port {README_PORT}" in block and f"localhost:{README_PORT}" in block
    script = re.sub(rf"\b{README_PORT}\b", port, block)
    bin_dir, log = tmp_path / "bin", tmp_path / "curl"
    bin_dir.mkdir()
    log.mkdir()
    (bin_dir / "curl").write_text(CURL_WRAPPER)
    (bin_dir / "curl").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOMETRICS_")}
    # `python` and `uvicorn` of this interpreter; curl through the wrapper.
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    env |= {"REAL_CURL": real_curl, "CURL_LOG": str(log), "OMP_NUM_THREADS": "1",
            "BIOMETRICS_DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}"}
    (tmp_path / "block.sh").write_text(script)
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.Popen(["bash", str(tmp_path / "block.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the server, should the block not have stopped it
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
    output = (tmp_path / "out.txt").read_text()[-3000:]
    assert rc == 0, f"the README's API block {'timed out' if rc is None else f'exited {rc}'}:\n{output}"
    calls = _calls(log)
    probes = [c for c in calls if "-sf" in c[0].split() and c[0].endswith("/readyz")]
    assert probes and probes[-1][2] == 200, "the readiness wait never saw the server ready"
    calls = [c for c in calls if c not in probes]
    problems = [f"curl {a}: exit {rc}, HTTP {status}" for a, rc, status in calls
                if rc != 0 or status is None or not 200 <= status < 300]
    assert not problems, "\n".join(problems) + "\n" + output
    expected = {"/enroll": (3, 200), "/v1/score": (3, 200), "-X DELETE": (1, 204)}
    for needle, (n, status) in expected.items():
        found = [s for a, _, s in calls if needle in a]
        assert found == [status] * n, f"{needle}: {found} (expected {n} x {status})"
    gets = [s for a, _, s in calls if "-X" not in a.split()]
    assert len(gets) == 4 and set(gets) == {200}, gets  # status, healthz, readyz, metrics
