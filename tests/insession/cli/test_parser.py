"""The `insession` command: one module per command, each registered once in the parser."""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys

import insession.cli
from insession.cli import build_parser


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_every_command_module_registers_its_command() -> None:
    modules = {m.name for m in pkgutil.iter_modules(insession.cli.__path__) if m.name != "__main__"}
    assert _commands(build_parser()) == modules


def test_python_m_insession_cli_is_the_insession_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "insession.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "replay" in done.stdout and "run" in done.stdout
