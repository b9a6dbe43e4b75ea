"""The one-way layering of docs/architecture.md, read from the import statements of the source tree.

Every import is found with ``ast`` (also those inside functions), except those under ``if TYPE_CHECKING:``,
which never run. A failure names the file, the line and the import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "xrdsynth"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every runtime import of xrdsynth in ``path`` (or in ``text``, code
    read from it), names included (``from xrdsynth.io import _cif`` gives ``xrdsynth.io._cif``)."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    in_package = PACKAGE in path.parents
    here = _module_name(path).split(".") if in_package else []
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("xrdsynth")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "xrdsynth":
                continue
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _private_part(name: str) -> int | None:
    """Index of the first underscored part of a dotted name (dunders such as __version__ are public)."""
    for i, part in enumerate(name.split(".")):
        if part.startswith("_") and not part.startswith("__"):
            return i
    return None


SOURCES = sorted(PACKAGE.rglob("*.py"))
OUTSIDE = sorted(
    p for folder in ("scripts", "benchmarks", "examples", "docs") for p in (ROOT / folder).rglob("*.py")
    if "_build" not in p.parts
)


def test_the_reader_sees_relative_and_function_level_imports() -> None:
    found = dict((name, line) for line, name in imports_of(PACKAGE / "io" / "__init__.py"))
    assert "xrdsynth.io._patterns.read_pattern" in found
    assert not any(name.startswith("xrdsynth.structure") for name in found)  # TYPE_CHECKING only


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_module_of_another_package(path: Path) -> None:
    """A subpackage may import its own private modules and the root's bottom layer (xrdsynth._base, ...),
    never another package's private module."""
    own = _module_name(path).split(".")[:2]
    for line, name in imports_of(path):
        parts = name.split(".")
        index = _private_part(name)
        if index is None or index == 1:  # public, or the bottom layer xrdsynth._x
            continue
        assert parts[:2] == own, f"{path.relative_to(ROOT)}:{line} imports {name}, private to {parts[1]}"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent == PACKAGE and p.name.startswith("_")
                                  and not p.name.startswith("__")], ids=lambda p: p.name)
def test_bottom_layer_imports_only_the_bottom_layer(path: Path) -> None:
    for line, name in imports_of(path):
        assert name.split(".")[1].startswith("_"), f"{path.name}:{line} imports {name} from above"


def test_io_never_imports_structure() -> None:
    """io sits below structure: structure builds Crystals on io's public CIF functions, never the reverse."""
    for path in sorted((PACKAGE / "io").rglob("*.py")):
        for line, name in imports_of(path):
            assert not name.startswith(("xrdsynth.structure", "xrdsynth.Crystal")), (
                f"{path.relative_to(ROOT)}:{line} imports {name}"
            )


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_benchmarks_examples_docs_use_public_names(path: Path) -> None:
    for line, name in imports_of(path):
        assert _private_part(name) is None, f"{path.relative_to(ROOT)}:{line} imports private {name}"


PAGES = sorted([ROOT / "README.md", *(p for p in (ROOT / "docs").glob("*.md"))])


def python_blocks(page: Path) -> list[str]:
    """The fenced ``python`` code blocks of a Markdown page."""
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def test_pages_have_python_blocks_to_check() -> None:
    assert sum(len(python_blocks(page)) for page in PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_in_the_docs_uses_public_names(page: Path) -> None:
    for block in python_blocks(page):
        try:
            found = imports_of(page, block)
        except SyntaxError:  # a fragment (e.g. with "..."): its import lines are still checked below
            found = [(0, m) for m in re.findall(r"^\s*(?:from|import) (xrdsynth[\w.]*)", block, flags=re.M)]
        for _, name in found:
            assert _private_part(name) is None, f"{page.relative_to(ROOT)} shows an import of private {name}"
