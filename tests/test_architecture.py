"""ARCHITECTURE.md's layers are the code's: every helpers module is in the table (and in the README's), and each
imports only modules of lower layers (so there is no import circle), including the imports inside functions."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layers() -> dict[str, int]:
    table = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        found = re.match(r"\| (\d+) \| (.+?) \|", line)
        if found:
            table.update({name: int(found[1]) for name in re.findall(r"`(\w+)`", found[2])})
    return table


def helpers_imports(path: Path) -> set[str]:
    """Modules of helpers that ``path`` imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return names


def test_every_helpers_module_has_a_layer():
    modules = {p.stem for p in (ROOT / "helpers").glob("*.py")} - {"__init__"}
    assert modules == set(layers()), "add the module to ARCHITECTURE.md's table (or remove it from there)"


def test_the_readmes_helpers_table_names_every_module():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## The helpers package"):]
    listed = set(re.findall(r"^\| `helpers\.(\w+)` \|", table, flags=re.MULTILINE))
    modules = {p.stem for p in (ROOT / "helpers").glob("*.py")} - {"__init__"}
    assert listed == modules, "add the module to the README's helpers table (or remove it from there)"


def test_each_module_imports_only_from_lower_layers():
    layer = layers()
    climbing = [f"{p.stem} (layer {layer[p.stem]}) imports {name} (layer {layer[name]})"
                for p in sorted((ROOT / "helpers").glob("*.py")) if p.stem in layer
                for name in sorted(helpers_imports(p)) if name in layer and layer[name] >= layer[p.stem]]
    assert climbing == []


def test_helpers_stays_under_3000_code_lines():
    """Issue 18's size: code lines (no blanks, comments or docstrings), as scripts/count_code_lines.py counts them."""
    from count_code_lines import code_lines  # scripts/ (conftest.py puts it on the path)

    sizes = {path.name: code_lines(path) for path in (Path(__file__).resolve().parents[1] / "helpers").glob("*.py")}
    assert sum(sizes.values()) < 3000, sorted(sizes.items(), key=lambda item: -item[1])[:5]
