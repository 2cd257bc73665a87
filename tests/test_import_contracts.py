"""The import contracts ([tool.importlinter] in pyproject.toml) hold, and really fail when
broken: import-linter runs on a copy of the apps with one forbidden import added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("alliance", "measures", "sessions")


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the apps and the project's contracts, to break on purpose."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "migrations"),
        )
    return tmp_path


def test_the_project_keeps_its_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copy_keeps_them_before_it_is_broken(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("alliance/analytics/leak.py", "from django.db import models\n", "pure: no Django"),
        ("alliance/charts_leak.py", "import alliance.charts\n", None),  # a caller is fine
        ("measures/leak.py", "from alliance.flags import services\n", "measures"),
        ("sessions/leak.py", "from alliance.devtools import demo\n", "Developer tools"),
        ("alliance/views_leak.py", "from alliance.devtools.bench import runner\n", "Developer"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree, module, line, contract):
    (tree / module).write_text(line)
    result = lint_imports(tree)
    if contract is None:
        assert result.returncode == 0, result.stdout + result.stderr
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken
