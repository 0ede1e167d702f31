"""The import contracts encode the layers: a violating import fails `lint-imports`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "pages", "components", "jobs", "reports_pdf")
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the code and its contracts, to break on purpose."""
    root = tmp_path_factory.mktemp("layers")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root)},
    )


def verdict(report: str, contract: str) -> str:
    """KEPT or BROKEN, as the report says for the contract whose name starts with ``contract``."""
    rest = report[report.index("Contracts\n") :]
    after = rest[rest.index(contract) :]
    return min(("KEPT", "BROKEN"), key=lambda w: after.find(w) if w in after else len(after))


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # A lower core layer reaching up: identity may not know dashboards.
        ("portal/identity/_bad.py", "import portal.dashboards\n", "core layers"),
        # The core reaching the UI (only the web entry point wires pages in).
        ("portal/reports/_bad.py", "import components.session\n", "layers: pages"),
        # viz stays backend-free: no database.
        ("portal/viz/_bad.py", "import sqlalchemy\n", "viz never imports"),
        # Only entry points import web.
        ("components/_bad.py", "import portal.web.server\n", "only entry points import web"),
        # The PDF renderer is pure.
        ("reports_pdf/_bad.py", "import portal.infra.db\n", "reports_pdf is pure"),
    ],
)
def test_a_violating_import_breaks_a_contract(tree: Path, module: str, source: str, broken: str) -> None:
    bad = tree / module
    bad.write_text(source)
    try:
        out = lint(tree)
    finally:
        bad.unlink()
    assert out.returncode != 0, out.stdout
    assert verdict(out.stdout, broken) == "BROKEN", out.stdout[-3000:]


def test_the_code_as_it_is_keeps_every_contract(tree: Path) -> None:
    out = lint(tree)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout
