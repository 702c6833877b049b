"""The static type check (mypy, configured in pyproject's [tool.mypy]) passes, and its debt does not grow.

The debt is the one [[tool.mypy.overrides]] block with `ignore_errors = true`: our modules that
do not type-check yet. Its module list must equal TYPE_DEBT below, so a module cannot be added
without editing this test, and a module that has been fixed is deleted from both places. No file
may opt out on its own (`# mypy: ignore-errors`, a file-wide `# type: ignore`) either. One mypy
run, about ten seconds from a cold cache.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("kiosk", "hardware", "sync", "server_stub")
MAX_DEBT = 15
# Frozen: shrink it as modules are fixed (and delete them from pyproject too); never add to it.
TYPE_DEBT: list[str] = []
FILE_OPT_OUT = re.compile(r"^#\s*(mypy:\s*ignore-errors|type:\s*ignore\s*$)", re.MULTILINE)


def test_mypy_clean_and_type_debt_frozen() -> None:
    mypy: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    assert sorted(mypy["files"]) == sorted(PACKAGES)
    debt_blocks = [o for o in mypy.get("overrides", []) if o.get("ignore_errors")]
    assert len(debt_blocks) == 1, "exactly one [[tool.mypy.overrides]] block with ignore_errors = true"
    debt = debt_blocks[0]["module"]
    assert len(debt) <= MAX_DEBT, f"type debt is capped at {MAX_DEBT} modules: fix some first"
    assert debt == TYPE_DEBT, (
        "pyproject's type-debt list changed: fixed modules leave both it and TYPE_DEBT here; "
        "new modules are not added (fix their errors instead)")
    for module in debt:
        path = REPO / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), \
            f"{module} is in the type debt but no longer exists: drop it from both lists"

    opted_out = [str(p.relative_to(REPO)) for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))
                 if FILE_OPT_OUT.search(p.read_text(encoding="utf-8"))]
    assert opted_out == [], f"files that skip the type check on their own (use the debt list): {opted_out}"

    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml")],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"mypy found problems:\n{r.stdout}{r.stderr}"
