"""``pip install .`` gives a working ``atlas`` command that carries its templates and configs."""
from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_a_console_command(tmp_path):
    wheels = tmp_path / "wheels"
    has_setuptools = subprocess.run([sys.executable, "-c", "import setuptools, wheel"], capture_output=True).returncode == 0
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)]
    if has_setuptools:  # offline-friendly and faster; otherwise pip fetches the build backend
        build.insert(5, "--no-build-isolation")
    subprocess.run(build, check=True, capture_output=True, text=True, cwd=tmp_path)
    wheel = next(wheels.glob("face_embedding_atlas-*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # --no-deps: the point is the package's own layout; the dependencies are the pinned ones.
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)

    out = subprocess.run([str(env_dir / "bin" / "atlas"), "build", "--help"], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout
    assert "--config" in out and "--output-dir" in out

    where = subprocess.run(
        [str(py), "-c", "from report.resources import templates_dir, configs_dir, is_source_checkout as s;"
                        "print(templates_dir()); print(configs_dir()); print(s())"],
        capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split()
    templates, configs, checkout = Path(where[0]), Path(where[1]), where[2]
    assert str(env_dir) in str(templates) and (templates / "page.md.j2").is_file()
    assert str(env_dir) in str(configs) and (configs / "demo.toml").is_file()
    assert checkout == "False"


def test_every_package_of_the_checkout_is_in_the_wheel():
    """A sub-package missing from pyproject's explicit list is left out of the wheel, and ``atlas``
    then fails with ImportError on the first study that reaches it (the slow test above would only
    notice it for the modules ``atlas build --help`` imports)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("analysis", "report")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found - listed == set(), f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
