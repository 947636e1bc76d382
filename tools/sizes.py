"""Fail when an application function is over 60 lines or a class over 250, unless a comment says why.

The reason goes on the line above the ``def`` or ``class``, starting ``# long:`` (say what keeps it whole).
Migrations, tests and benchmarks are not application code.
"""

import ast
import sys
from pathlib import Path

# Every top-level package is an application but these (a new app cannot be missed, as official/ and watch/ were).
NOT_APPLICATIONS = {"tests", "bench", "tools"}
LIMITS = {ast.FunctionDef: 60, ast.AsyncFunctionDef: 60, ast.ClassDef: 250}


def oversized(path: Path):
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        limit = LIMITS.get(type(node))
        if limit is None:
            continue
        first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        length = node.end_lineno - first + 1
        if length > limit and not lines[first - 2].strip().startswith("# long:"):
            yield f"{path}:{node.lineno}: {node.name} is {length} lines (limit {limit})"


def main(root: Path) -> int:
    problems = [
        problem
        for app in sorted(init.parent for init in root.glob("*/__init__.py"))
        if app.name not in NOT_APPLICATIONS
        for path in sorted(app.rglob("*.py"))
        if "migrations" not in path.parts
        for problem in oversized(path)
    ]
    print("\n".join(problems) or "No function over 60 lines, no class over 250.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")))
