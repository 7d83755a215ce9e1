"""The package the functions upload holds every module the job and the runner import: the
go:embed lines of job.go list them by hand, and a module left out fails only on Ray (the runner's
application does not build, the job dies at its first import). Every local module imported by an
embedded one must be embedded too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def embedded() -> set[str]:
    names: set[str] = set()
    for line in (HERE / "job.go").read_text(encoding="utf-8").splitlines():
        if line.startswith("//go:embed "):
            names.update(line.split()[1:])
    return names


def local_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {name for name in found if (HERE / f"{name}.py").is_file()}


def test_every_imported_local_module_is_embedded() -> None:
    files = embedded()
    modules = {f for f in files if f.endswith(".py")}
    assert "deliberation_job.py" in modules and "deliberation_runner.py" in modules
    missing = {f"{name}.py (imported by {module})" for module in modules
               for name in local_imports(HERE / module) if f"{name}.py" not in modules}
    assert not missing, f"add to job.go's go:embed: {sorted(missing)}"
    assert not any(re.match(r"(test_|conftest)", f) for f in modules), "tests are not part of the package"
