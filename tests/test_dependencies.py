"""Dependencies are declared exactly as used: every import of another project is declared where its code lives
(the core, or the extra of the package that imports it), and every declared distribution is imported somewhere
or has its reason written here. An undeclared import works on the machine that has it and fails on a clean set-up;
a declared one nothing imports costs every install for nothing."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
_DISTRIBUTIONS = functools.cache(importlib.metadata.packages_distributions)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Which extra a module's own imports belong to; the rest of the package is the core.
EXTRA_OF = [("server/", "server"), ("commands/serve.py", "server"), ("evaluate/", "eval"), ("data/", "data"),
            ("train/", "train"), ("reference.py", "reference"), ("fanout.py", "scale")]
# basic-pitch's metadata pulls TensorFlow, so setup.sh installs it with --no-deps: it cannot be declared.
INSTALLED_BY_SETUP = {"basic-pitch"}
# Declared, imported by no file here, and why.
NOT_IMPORTED = {
    "onnxruntime": "basic-pitch's ONNX model runs on it (basic-pitch is installed without its dependencies)",
    "resampy": "basic-pitch resamples with it",
    "pretty-midi": "basic-pitch writes its notes with it",
    "setuptools": "resampy imports pkg_resources, gone from setuptools 81",
    "httpx": "fastapi's TestClient runs on it",
    "ruff": "a tool scripts/test.sh runs",
    "mypy": "a tool scripts/test.sh runs",
}


def name(requirement: str) -> str:
    """The normalised distribution name of a requirement such as 'Foo_Bar>=1; python_version<"4"'."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def declared() -> dict[str, set[str]]:
    """Distribution names per section: 'core' and each extra."""
    sections = {"core": {name(r) for r in PYPROJECT["dependencies"]}}
    sections |= {extra: {name(r) for r in reqs} for extra, reqs in PYPROJECT["optional-dependencies"].items()}
    return sections


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """Top-level names of the modules each file under `folder` imports, other than the standard library's and
    Melodex's own and the test and script folders' local modules."""
    local = {p.stem for p in (ROOT / "tests").rglob("*.py")} | {p.stem for p in (ROOT / "scripts").rglob("*.py")}
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for module in {n.split(".")[0] for n in names}:
                if module not in sys.stdlib_module_names and module not in local and module not in (
                        "melodex", "__future__"):
                    found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return found


@functools.cache
def distribution(module: str) -> str:
    found = _DISTRIBUTIONS().get(module)
    assert found, f"{module} is imported but not installed: declare it and run scripts/setup.sh --dev"
    return name(found[0])


def section_of(path: str) -> str:
    inside = path.removeprefix("src/melodex/")
    return next((extra for prefix, extra in EXTRA_OF if inside.startswith(prefix)), "core")


def test_every_import_in_the_package_is_declared_in_its_core_or_its_extra() -> None:
    sections = declared()
    wrong = []
    for module, paths in imported_modules(ROOT / "src" / "melodex").items():
        dist = distribution(module)
        for path in sorted(paths):
            where = section_of(path)
            allowed = sections["core"] | sections.get(where, set()) | INSTALLED_BY_SETUP
            if dist not in allowed:
                wrong.append(f"{path} imports {module} ({dist}): declare it in {where}")
    assert not wrong, "\n".join(wrong)


def test_tests_and_scripts_import_only_what_the_dev_set_up_declares() -> None:
    extras = ["core", "server", "dev", "eval", "reference"]  # what setup.sh --dev installs
    sections = declared()
    allowed = set().union(*(sections[s] for s in extras)) | INSTALLED_BY_SETUP
    wrong = [f"{sorted(paths)[0]} imports {module} ({distribution(module)})"
             for folder in ("tests", "scripts") for module, paths in imported_modules(ROOT / folder).items()
             if distribution(module) not in allowed]
    assert not wrong, "\n".join(wrong)


def test_every_declared_distribution_is_imported_or_has_a_reason() -> None:
    used = {distribution(module) for folder in ("src", "tests", "scripts")
            for module in imported_modules(ROOT / folder)}
    sections = declared()
    unused = sorted(set().union(*sections.values()) - used - set(NOT_IMPORTED))
    assert not unused, f"declared but imported nowhere: {unused}"
    assert "--no-deps" in (ROOT / "scripts" / "setup.sh").read_text() and all(
        d in (ROOT / "scripts" / "setup.sh").read_text() for d in INSTALLED_BY_SETUP)


def test_the_setup_scripts_extras_exist() -> None:
    extras = set(PYPROJECT["optional-dependencies"])
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    named = set(re.findall(r"[a-z]+", " ".join(re.findall(r'extras="\$extras,([a-z,]+)"', setup))))
    named |= set(re.findall(r'^extras="([a-z]+)"', setup, flags=re.M))
    assert named and named <= extras, f"setup.sh installs extras pyproject lacks: {named - extras}"
