"""The package list in pyproject.toml names every package folder (else `pip install .` silently drops one)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "reporter").rglob("__init__.py")}
    assert found - {"reporter.templates"} <= listed
    assert config["package-dir"]["reporter.templates"] == "templates"
    assert (ROOT / "templates" / "report.html.j2").is_file()
