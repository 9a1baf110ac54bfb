"""The structure of the code, checked on every test run: the layer contract (import-linter), the lint
rules (ruff), that every module has a layer, and that every installed module is used by the CLI.

docs/architecture.md explains the layers; pyproject.toml holds the contract and the lint rules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections import deque
from pathlib import Path

import grimp
import pytest

from emmel.cli import COMMANDS, module_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
ROOT_PACKAGES = PYPROJECT["tool"]["importlinter"]["root_packages"]

# Installed modules no command imports, and why they are installed anyway (none today).
NOT_REACHED_FROM_THE_CLI: dict[str, str] = {}


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: pip install -e '.[test]'")
    return str(path)


def test_layer_contract_holds():
    """`lint-imports`: no import goes up a layer, the middle packages are independent, no cycles."""
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_ruff_finds_nothing():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _layer_modules(layer: str) -> set[str]:
    return {name.strip().strip("()") for name in layer.replace("|", ":").split(":")}


def test_every_module_of_emmel_has_a_layer():
    """The core is `emmel` minus its top and middle parts; import-linter needs it listed, so a new module must be added."""
    listed = set().union(*map(_layer_modules, CONTRACTS["layers"]["layers"]))
    children = {f"emmel.{p.stem}" for p in (ROOT / "emmel").iterdir()
                if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert children - listed == set(), "add these modules to a layer of the 'layers' contract in pyproject.toml"
    assert listed - children - {"crawlers", "annotation", "baseline", "importers", "pages"} == set()


def test_every_installed_package_is_analysed():
    """Every top-level package the wheel installs is a root package of the import graph and has a layer."""
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {p.rstrip("*") for p in patterns}
    assert installed == set(ROOT_PACKAGES)
    listed = set().union(*map(_layer_modules, CONTRACTS["layers"]["layers"]))
    assert installed - {"emmel"} <= listed


def _named_modules(path: Path, modules: set[str]) -> set[str]:
    """Our modules named by dotted strings in a file (``"crawlers.pipelines.RawRecordPipeline"``): loaded by name."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.split(".")[0] in ROOT_PACKAGES:
            parts = node.value.split(".")
            for end in range(len(parts), 0, -1):
                if ".".join(parts[:end]) in modules:
                    out.add(".".join(parts[:end]))
                    break
    return out


def test_every_installed_module_is_reached_from_a_command():
    """Each module the wheel installs is imported, directly or through others (lazily counts), by a command.

    Edges are the static imports (grimp), a package's ``__init__`` for each of its modules, modules named
    by dotted strings (Scrapy settings, ``load_object``), and the packages in Scrapy's ``SPIDER_MODULES``,
    whose spiders Scrapy's SpiderLoader imports. The roots are the CLI and the command modules it imports by name.
    """
    from crawlers import settings

    graph = grimp.build_graph(*ROOT_PACKAGES, cache_dir=None)
    modules = set(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}
    for module in modules:
        parent = module.rpartition(".")[0]
        if parent:
            edges[module].add(parent)
        path = ROOT / (module.replace(".", "/") + ".py")
        path = path if path.exists() else ROOT / module.replace(".", "/") / "__init__.py"
        edges[module] |= _named_modules(path, modules)
    for package in settings.SPIDER_MODULES:
        edges["crawlers.settings"] |= {m for m in modules if m.startswith(package + ".")}
    reached: set[str] = set()
    queue = deque(["emmel.cli", "emmel.__main__", *(module_name(name) for name in COMMANDS)])
    while queue:
        module = queue.popleft()
        if module not in reached:
            reached.add(module)
            queue.extend(edges[module] - reached)
    unreached = modules - reached - set(NOT_REACHED_FROM_THE_CLI)
    assert unreached == set(), "no command uses these installed modules: move them (tests/, tools/) or document them"
