# Helpers shared by install.sh and uninstall.sh (sourced, not run).
# shellcheck shell=bash
# The variables below are used by the scripts that source this file.
# shellcheck disable=SC2034

APP=memoji-booth
SERVICE=memoji-booth.service
SERVICE_USER=memoji-booth
# Groups that own the devices: camera and screen (video, render), keyboard
# (input), button and LED (gpio).
DEVICE_GROUPS=(video render input gpio)

# Every target path sits under ROOT; tests point it at a temporary folder
# together with --dry-run. Operators leave it empty.
ROOT=${MEMOJI_BOOTH_ROOT:-}
PREFIX=$ROOT/opt/memoji-booth
VENV=$PREFIX/venv
CONFIG_DIR=$ROOT/etc/memoji-booth
CONFIG=$CONFIG_DIR/config.toml
DATA_DIR=$ROOT/var/lib/memoji-booth
CACHE_DIR=$ROOT/var/cache/memoji-booth
UNIT_PATH=$ROOT/etc/systemd/system/$SERVICE

DRY_RUN=0

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# One shell word, quoted only when it needs to be, so printed steps read well.
quote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
        printf '%s' "$1"
    else
        printf '%s' "${1@Q}"
    fi
}

# The command line, quoted so it can be pasted into a shell.
show() {
    local word line="+"
    for word in "$@"; do
        line+=" $(quote "$word")"
    done
    printf '%s' "$line"
}

# Print a command, then run it unless --dry-run.
run() {
    show "$@"
    printf '\n'
    if [[ $DRY_RUN -eq 0 ]]; then
        "$@"
    fi
}

# Like run, with the command's standard output written to a file (atomically).
run_to() {
    local target=$1
    shift
    show "$@"
    printf ' > %s\n' "$(quote "$target")"
    if [[ $DRY_RUN -eq 0 ]]; then
        "$@" >"$target.tmp"
        mv -f "$target.tmp" "$target"
    fi
}

require_root() {
    if [[ $DRY_RUN -eq 0 && $EUID -ne 0 ]]; then
        die "run me as root: sudo $0${*:+ $*} (or add --dry-run to see the steps)"
    fi
}

have_systemd() {
    [[ -d /run/systemd/system ]]
}
