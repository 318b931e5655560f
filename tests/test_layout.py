"""The house keeps its shape: one `insession` namespace, imports that only go down (no
circles), `models/` below `operators/`, only `Settings` reading the environment, and an
install that puts `insession` and nothing else of ours into site-packages."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "insession": "insession",
    "insession.flows": "flows",
    "insession.operators": "operators",
    "insession.models": "models",
    "insession.schemas": "schemas",
}
"""Where each part of the namespace lives in the repository (pyproject's package-dir)."""


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `module` imports, anywhere in it (TYPE_CHECKING blocks too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, read from the source (nothing is run)."""
    known = _modules()
    return {module: set(_imported(module, path, known)) for module, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_circles() -> None:
    graph = import_graph()
    assert len(graph) > 100, "every module was read"
    assert circles(graph) == []


def test_a_circle_would_be_found() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_models_stand_below_operators() -> None:
    graph = import_graph()
    climbing = {
        (module, imported)
        for module, imports in graph.items()
        if module.startswith("insession.models")
        for imported in imports
        if imported.startswith(("insession.operators", "insession.flows", "insession.runner"))
    }
    assert climbing == set()


def _environment_reads(path: Path) -> list[int]:
    """Lines that read a variable of the environment (copying it for a child is fine)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            text = ast.unparse(node.func)
            if text in ("os.getenv", "os.environ.get", "environ.get", "getenv"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            lines.append(node.lineno)
    return lines


def test_only_settings_read_the_environment() -> None:
    readers = {
        module: lines
        for module, path in _modules().items()
        if module != "insession.settings" and (lines := _environment_reads(path))
    }
    assert readers == {}


def test_every_package_folder_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == FOLDERS
    packages = {module for module, path in _modules().items() if path.name == "__init__.py"}
    assert set(config["packages"]) == packages


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install .` (without dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("site-packages")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path_factory.mktemp("build"),
    )
    return target


def test_an_install_holds_insession_and_nothing_else_of_ours(installed: Path) -> None:
    ours = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert ours - {"bin"} == {"insession"}
    assert (installed / "insession" / "py.typed").is_file()
    assert (installed / "insession" / "schemas" / "json").is_dir()
    assert (installed / "insession" / "ops" / "page" / "index.html").is_file()
    assert (installed / "insession" / "models" / "sentiment" / "learned.json.gz").is_file()


def test_an_application_with_its_own_schemas_and_models_can_import_it(
    installed: Path, tmp_path: Path
) -> None:
    for own in ("schemas", "models", "operators", "flows"):
        (tmp_path / own).mkdir()
        (tmp_path / own / "__init__.py").write_text("MINE = True\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import insession.cli, insession.runner.live, schemas, models; "
            "assert schemas.MINE and models.MINE; "
            "print(insession.cli.build_parser().prog, insession.__file__)",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{installed}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    prog, where = done.stdout.split()
    assert prog == "insession" and where.startswith(str(installed)), where
