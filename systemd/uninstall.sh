#!/usr/bin/env bash
# Remove what install.sh installed. Saved memojis and settings are kept unless --purge.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

PURGE=0

usage() {
    cat <<EOF
Usage: sudo $0 [--dry-run] [--purge]

Stops and removes the $SERVICE service and the program in $PREFIX.
Keeps the saved memojis ($DATA_DIR), the settings ($CONFIG_DIR)
and the user $SERVICE_USER, unless --purge. Apt packages stay (other
programs may use them).

Options:
  --dry-run   print every step without doing it (no root needed)
  --purge     also delete saved memojis, settings, cache, the service's
              overrides (systemctl edit) and the user
  -h, --help  this help
EOF
}

given_args=("$@")
while [[ $# -gt 0 ]]; do
    case $1 in
        --dry-run) DRY_RUN=1 ;;
        --purge) PURGE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

require_root "${given_args[@]}"
[[ $DRY_RUN -eq 1 ]] && say "dry run: printing the steps, changing nothing"

say "stopping and removing $SERVICE"
if [[ $DRY_RUN -eq 1 ]] || have_systemd; then
    # || true: uninstalling twice, or after a failed install, must not stop here.
    run systemctl disable --now "$SERVICE" || true
fi
run rm -f "$UNIT_PATH"
if [[ $PURGE -eq 1 ]]; then
    run rm -rf "$UNIT_PATH.d"  # overrides from `systemctl edit`: before the reload forgets them
fi
if [[ $DRY_RUN -eq 1 ]] || have_systemd; then
    run systemctl daemon-reload
    run systemctl reset-failed "$SERVICE" || true
fi

say "removing the program $PREFIX"
run rm -rf "$PREFIX"

if [[ $PURGE -eq 1 ]]; then
    say "purging saved memojis, settings, cache, overrides and the user $SERVICE_USER"
    run rm -rf "$DATA_DIR" "$CONFIG_DIR" "$CACHE_DIR"
    if [[ $DRY_RUN -eq 1 ]] || id -u "$SERVICE_USER" >/dev/null 2>&1; then
        run userdel "$SERVICE_USER"
    fi
else
    say "kept: saved memojis in $DATA_DIR, settings in $CONFIG_DIR, user $SERVICE_USER"
    if [[ -d $UNIT_PATH.d ]]; then
        say "kept: your service overrides in $UNIT_PATH.d"
    fi
    say "(run again with --purge to delete them)"
fi
say "done"
