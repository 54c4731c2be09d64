"""``--help`` of the real CLI: switches show no value type (``--annotate``, not ``--annotate <bool>``), options
that take a value still show theirs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from watchnet.cli import app

COMMANDS = (["run"], ["serve"], ["search"], ["export", "alert"], ["watchlist", "add"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_switches_show_no_value_type(command: list[str]) -> None:
    done = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert done.exit_code == 0, done.output
    assert "<bool>" not in done.output
    assert re.search(r"--help\s+Show this message", done.output)


def test_value_types_stay_and_the_installed_command_agrees() -> None:
    done = subprocess.run([sys.executable, "-m", "watchnet", "run", "--help"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    assert re.search(r"--annotate\s+--no-annotate\s+Write an annotated video", done.stdout)
    assert re.search(r"--stride\s+<int>", done.stdout)
