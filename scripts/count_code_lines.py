"""Code lines of a package, per module: lines holding code, leaving out blank lines, comments and docstrings.

    python scripts/count_code_lines.py           # helpers/, the figure issue 18 asks to keep well under 3,000
    python scripts/count_code_lines.py scripts
"""

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def code_lines(path: Path) -> int:
    """Lines of ``path`` with a code token on them, docstrings (module, class, function) not counted.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     f = Path(tmp) / "m.py"
        ...     _ = f.write_text("'''Doc.'''\\n\\n# a comment\\ndef f():\\n    '''Doc.'''\\n    return (1,\\n            2)\\n")
        ...     code_lines(f)
        3
    """
    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
            first = node.body[0]
            docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIPPED:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def main(argv: list[str]) -> int:
    folder = ROOT / (argv[0] if argv else "helpers")
    counts = {p.relative_to(ROOT): code_lines(p) for p in sorted(folder.rglob("*.py"))}
    for path, n in counts.items():
        print(f"{n:5d}  {path}")
    print(f"{sum(counts.values()):5d}  in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
