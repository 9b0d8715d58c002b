"""The package list in pyproject.toml names every package folder (else `pip install .` silently drops one)."""

import tomllib
from pathlib import Path

from reporter.api.statuspage import PAGE_PATHS

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "reporter").rglob("__init__.py")}
    assert found - {"reporter.templates"} <= listed
    assert config["package-dir"]["reporter.templates"] == "templates"
    assert (ROOT / "templates" / "report.html.j2").is_file()


def test_a_wheel_ships_settings_example_for_config_example(tmp_path):
    """`pip install .` (not editable) installs settings.example.env, and `reporter config example` prints it;
    and the status page's files."""
    import os
    import shutil
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "settings.example.env"):
        shutil.copy(ROOT / name, src / name)
    for name in ("reporter", "templates"):  # as a clone has them (links stay links)
        shutil.copytree(ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
                            str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("reporter-*.whl")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                              str(tmp_path / "site"), str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    installed = tmp_path / "site" / "reporter" / "settings.example.env"
    assert installed.is_file() and not installed.is_symlink()
    static = tmp_path / "site" / "reporter" / "api" / "static"  # the status page's files (GET /, /static/*)
    assert sorted(p.name for p in static.iterdir()) == sorted(name for name, _ in PAGE_PATHS.values())
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    run = subprocess.run([sys.executable, "-c", "import reporter, sys; print(reporter.__file__, file=sys.stderr); "
                          "from reporter.cli import main; main(['config', 'example'])"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().startswith(str(tmp_path / "site"))  # the installed copy, not the clone
    assert run.stdout == (ROOT / "settings.example.env").read_text()
