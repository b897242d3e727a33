"""Run the administrator's commands the way tests need them.

`cli()` runs a command inside the test process through Typer's CliRunner: the same Typer app,
arguments, stdin, environment and working directory as `callcenter ...` in a shell, without paying
the package's import (about 1.7 s of CPU) per command. `cli_process()` runs the real entry point
in a new interpreter (`python -m callcenter.cli`); tests of what only a process shows (the umask,
logging, `serve`, the exit code seen by a shell) use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner


def cli_process(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLCENTER_CONFIG": str(cwd / "config.yaml")}
    return subprocess.run([sys.executable, "-m", "callcenter.cli", *args], cwd=cwd, input=stdin, text=True,
                          capture_output=True, env=env, timeout=60)


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def cli(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`callcenter ARGS` run in `cwd` with its config.yaml; the result looks like a finished process.
    `serve` always gets a real process: it would not return here."""
    if args and args[0] == "serve":
        return cli_process(cwd, *args, stdin=stdin)
    from callcenter.cli import app

    runner = CliRunner()
    with _working_directory(cwd):
        result = runner.invoke(app, list(args), input=stdin, env={"CALLCENTER_CONFIG": str(cwd / "config.yaml")},
                               catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What the process would have printed: the traceback, on stderr, with exit code 1.
        import traceback

        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["callcenter", *args], result.exit_code, result.stdout, stderr)
