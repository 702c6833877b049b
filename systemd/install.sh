#!/usr/bin/env bash
# Turn a Raspberry Pi OS Lite (Bookworm) install into an Apoyo field kit kiosk,
# or a Debian host into an ingestion server. Run as root. Idempotent: a second
# run changes nothing that is already right, so it is also the update command.
# docs/deploy-pi.md explains every step.
#
#   sudo systemd/install.sh                       # kiosk from this checkout
#   sudo systemd/install.sh --wheel apoyo_fieldkit-0.2.0-py3-none-any.whl
#   sudo systemd/install.sh --rotate 90 --display cage
#   systemd/install.sh --dry-run                  # print every step, do nothing
#   systemd/install.sh --root /mnt/sd --no-pi     # into another root (chroot)
set -euo pipefail

usage() {
    cat <<'EOF'
usage: install.sh [options]

  --dry-run              print every step (as "+ command") and change nothing
  --root DIR             install into the root file system at DIR (commands
                         that must run in the target run under chroot DIR;
                         it needs /proc and /dev mounted, like any chroot)
  --role kiosk|server    kiosk (default): kiosk + sync agent units;
                         server: fieldkit-server.service only
  --display eglfs|cage   kiosk display (default eglfs: Qt straight on KMS/DRM;
                         cage: the cage Wayland kiosk compositor)
  --rotate 0|90|180|270  screen, touch and stylus rotation, clockwise
  --camera SPEC          kiosk camera (default picamera; webcam[:N], replay:PATH)
  --pi | --no-pi         force Raspberry Pi mode on or off (default: detected
                         from /proc/device-tree/model, and only when --root /)
  --source DIR           install the project from this checkout (default: the
                         checkout this script is in)
  --wheel FILE           install the project from a built wheel instead
  --wheelhouse DIR       pip: no index, only wheels from DIR (offline update)
  --swap zram|none       replace disk swap with zram (default) or no swap
  --with-mqtt-clients    also install mosquitto-clients (diagnostics)
  --no-apt               skip the system packages (already installed)
  --no-restart           do not (re)start the services at the end
  -h, --help             this help
EOF
}

ROOT=/
DRY_RUN=0
ROLE=kiosk
DISPLAY_MODE=eglfs
ROTATE=""
CAMERA=""
PI=auto
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(cd "$SCRIPT_DIR/.." && pwd)"
WHEEL=""
WHEELHOUSE=""
SWAP=zram
MQTT_CLIENTS=0
APT=1
RESTART=1

PREFIX=/opt/fieldkit
VENV=$PREFIX/venv
ETC=/etc/fieldkit
DATA=/var/lib/fieldkit
SERVICE_USER=fieldkit
UNIT_DIR=/etc/systemd/system

die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root) ROOT="${2:?--root needs a directory}"; shift ;;
        --role) ROLE="${2:?}"; shift ;;
        --display) DISPLAY_MODE="${2:?}"; shift ;;
        --rotate) ROTATE="${2:?}"; shift ;;
        --camera) CAMERA="${2:?}"; shift ;;
        --pi) PI=yes ;;
        --no-pi) PI=no ;;
        --source) SOURCE="${2:?}"; shift ;;
        --wheel) WHEEL="${2:?}"; shift ;;
        --wheelhouse) WHEELHOUSE="${2:?}"; shift ;;
        --swap) SWAP="${2:?}"; shift ;;
        --with-mqtt-clients) MQTT_CLIENTS=1 ;;
        --no-apt) APT=0 ;;
        --no-restart) RESTART=0 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

case "$ROLE" in kiosk|server) ;; *) die "--role must be kiosk or server" ;; esac
case "$DISPLAY_MODE" in eglfs|cage) ;; *) die "--display must be eglfs or cage" ;; esac
case "$ROTATE" in ""|0|90|180|270) ;; *) die "--rotate must be 0, 90, 180 or 270" ;; esac
case "$SWAP" in zram|none) ;; *) die "--swap must be zram or none" ;; esac
[ -z "$WHEEL" ] || [ -f "$WHEEL" ] || [ "$DRY_RUN" = 1 ] || die "no such wheel: $WHEEL"
[ -n "$WHEEL" ] || [ -f "$SOURCE/pyproject.toml" ] || die "not a checkout (no pyproject.toml): $SOURCE"
ROOT="$(cd "$ROOT" 2>/dev/null && pwd)" || die "no such root: $ROOT"
if [ "$ROOT" = / ]; then R=""; else R="$ROOT"; fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (or use --dry-run)"
fi

if [ "$PI" = auto ]; then
    PI=no
    if [ -z "$R" ] && grep -qa "Raspberry Pi" /proc/device-tree/model 2>/dev/null; then PI=yes; fi
fi

# --- how steps run ----------------------------------------------------------------

step() { printf '==> %s\n' "$*"; }

# Print a command; run it unless --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    [ "$DRY_RUN" = 1 ] || "$@"
}

# A command that must run inside the target system (its users, its python).
in_root() {
    if [ -n "$R" ]; then run chroot "$ROOT" "$@"; else run "$@"; fi
}

# Same, but silent and always executed: a read-only question about the target.
query_root() {
    if [ -n "$R" ]; then chroot "$ROOT" "$@"; else "$@"; fi
}

# Install a file from the checkout (or stdin when SRC is "-") at DEST in the
# target, only if it differs; prints what it does.
put_file() {
    local src="$1" dest="$2" mode="$3" tmp=""
    if [ "$src" = - ]; then
        tmp="$(mktemp)"
        cat >"$tmp"
        src="$tmp"
    fi
    if [ -f "$R$dest" ] && cmp -s "$src" "$R$dest"; then
        printf '= %s (unchanged)\n' "$dest"
        [ "$(stat -c %a "$R$dest")" = "${mode#0}" ] || run chmod "$mode" "$R$dest"
    else
        run install -D -m "$mode" "$src" "$R$dest"
        CHANGED_FILES+=("$dest")
    fi
    [ -z "$tmp" ] || rm -f "$tmp"
}

# Set KEY=VALUE in an env file of the target (replace the line or append).
set_env() {
    local file="$1" key="$2" value="$3"
    if [ -f "$R$file" ] && grep -qx "$key=$value" "$R$file"; then
        printf '= %s: %s=%s (unchanged)\n' "$file" "$key" "$value"
        return 0
    fi
    printf '+ set %s=%s in %s\n' "$key" "$value" "$file"
    [ "$DRY_RUN" = 1 ] && return 0
    if [ -f "$R$file" ] && grep -q "^$key=" "$R$file"; then
        sed -i "s|^$key=.*|$key=$value|" "$R$file"
    else
        printf '%s=%s\n' "$key" "$value" >>"$R$file"
    fi
    CHANGED_FILES+=("$file")
}

pkg_installed() {
    # shellcheck disable=SC2016  # ${Status} is dpkg-query's field, not a shell variable
    query_root dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

CHANGED_FILES=()
echo "install.sh: role=$ROLE display=$DISPLAY_MODE pi=$PI root=$ROOT dry-run=$DRY_RUN"

# --- 1. system packages -----------------------------------------------------------

packages=(
    python3 python3-venv             # the venv (--system-site-packages)
    ca-certificates
    tzdata                           # zoneinfo: period dates are days in the process's zone
    procps                           # /bin/kill: ExecReload= of fieldkit-sync.service (send now)
    libzbar0                         # pyzbar, the fallback QR decoder
    fonts-dejavu-core fonts-ocr-b    # UI font; OCR-B for the MRZ reader's templates
)
if [ "$ROLE" = kiosk ]; then
    # What the PySide6 wheels link against (EGL/GLES on KMS, fonts, input, Wayland).
    packages+=(libegl1 libegl-mesa0 libgl1 libgles2 libgl1-mesa-dri libgbm1 libdrm2
               libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0
               libwayland-client0 libwayland-cursor0 libwayland-egl1)
    [ "$DISPLAY_MODE" = cage ] && packages+=(cage libpam-systemd dbus)
    # python3-picamera2 is in the Raspberry Pi OS archive (archive.raspberrypi.com),
    # not in Debian: only on a Pi.
    [ "$PI" = yes ] && packages+=(python3-picamera2)
    [ "$SWAP" = zram ] && packages+=(systemd-zram-generator)
else
    packages+=(mosquitto)
fi
[ "$MQTT_CLIENTS" = 1 ] && packages+=(mosquitto-clients)

step "system packages"
if [ "$APT" = 0 ]; then
    echo "skipped (--no-apt): ${packages[*]}"
else
    missing=()
    for p in "${packages[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all installed: ${packages[*]}"
    else
        in_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        if [ "$PI" = yes ] && [ "$DRY_RUN" = 0 ] && ! query_root apt-cache show python3-picamera2 >/dev/null 2>&1; then
            die "python3-picamera2 not found: it comes from the Raspberry Pi OS archive (archive.raspberrypi.com), which this system does not use"
        fi
        in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
fi

# --- 2. the service user ----------------------------------------------------------

step "user $SERVICE_USER"
groups=()
if [ "$ROLE" = kiosk ]; then groups=(video input render); fi
for g in "${groups[@]}"; do
    query_root getent group "$g" >/dev/null || in_root groupadd --system "$g"
done
if query_root getent passwd "$SERVICE_USER" >/dev/null; then
    echo "= user $SERVICE_USER exists"
else
    in_root useradd --system --user-group --home-dir "$DATA" --no-create-home \
        --shell /usr/sbin/nologin --comment "Apoyo field kit" "$SERVICE_USER"
fi
if [ ${#groups[@]} -gt 0 ]; then
    have=" $(query_root id -nG "$SERVICE_USER" 2>/dev/null || true) "
    for g in "${groups[@]}"; do
        case "$have" in *" $g "*) echo "= $SERVICE_USER in $g" ;;
            *) in_root usermod -a -G "$g" "$SERVICE_USER" ;; esac
    done
fi
# No password, no login: a system account that only services run as.
in_root usermod --lock "$SERVICE_USER"

# --- 3. directories ---------------------------------------------------------------

step "directories"
put_file "$SCRIPT_DIR/fieldkit.tmpfiles" /etc/tmpfiles.d/fieldkit.conf 0644
# tmpfiles.d makes and fixes them at every boot too (owner and modes).
in_root systemd-tmpfiles --create /etc/tmpfiles.d/fieldkit.conf
in_root install -d -o root -g root -m 0755 "$PREFIX"
if [ "$ROLE" = server ]; then
    in_root install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 /srv/fieldkit
fi

# --- 4. the venv and the project ---------------------------------------------------

step "venv $VENV"
if [ -x "$R$VENV/bin/python" ]; then
    echo "= venv exists"
else
    # --system-site-packages: python3-picamera2 (apt) is visible inside it.
    in_root python3 -m venv --system-site-packages "$VENV"
fi
pip_args=(--disable-pip-version-check --no-input --upgrade)
if [ -n "$WHEELHOUSE" ]; then
    run install -d -m 0755 "$R$PREFIX/wheelhouse"
    run cp -a "$WHEELHOUSE/." "$R$PREFIX/wheelhouse/"
    pip_args+=(--no-index --find-links "$PREFIX/wheelhouse")
fi
if [ -n "$WHEEL" ]; then
    target="$PREFIX/wheels/$(basename "$WHEEL")"
    run install -D -m 0644 "$WHEEL" "$R$target"
else
    # A clean copy of the checkout (no venv, no git, no caches), then a normal
    # (not editable) install from it.
    target="$PREFIX/src"
    run rm -rf "$R$target.new"
    run install -d -m 0755 "$R$target.new"
    printf '+ tar -C %s -cf - --exclude=... . | tar -C %s -xf -\n' "$SOURCE" "$R$target.new"
    if [ "$DRY_RUN" = 0 ]; then
        tar -C "$SOURCE" -cf - --exclude=./.venv --exclude=.git --exclude=__pycache__ \
            --exclude='*.egg-info' --exclude=./build --exclude=./dist --exclude=.pytest_cache \
            --exclude=.ruff_cache --exclude=.hypothesis . | tar -C "$R$target.new" -xf -
    fi
    run rm -rf "$R$target"
    run mv "$R$target.new" "$R$target"
fi
if [ "$ROLE" = kiosk ]; then
    # The face landmark models' package, without the TensorFlow it declares
    # (requirements-nodeps.txt). First, so that a wheelhouse without it stops the update
    # before the new code is in place.
    [ -f "$SOURCE/requirements-nodeps.txt" ] || die "missing $SOURCE/requirements-nodeps.txt"
    mapfile -t nodeps < <(grep -v -e '^#' -e '^[[:space:]]*$' "$SOURCE/requirements-nodeps.txt")
    in_root "$VENV/bin/python" -m pip install "${pip_args[@]}" --no-deps "${nodeps[@]}"
fi
in_root "$VENV/bin/python" -m pip install "${pip_args[@]}" "$target"
# Documentation= links of the units.
for d in deploy-pi.md sync.md server.md; do
    if [ -f "$SOURCE/docs/$d" ]; then put_file "$SOURCE/docs/$d" "$PREFIX/docs/$d" 0644; fi
done

# --- 5. units and their configuration ----------------------------------------------

step "units"
if [ "$ROLE" = kiosk ]; then
    units=(fieldkit-kiosk.service fieldkit-sync.service fieldkit-sync.path)
    # Installed, not enabled: only the kiosk's OnFailure= starts it.
    extra_units=(fieldkit-kiosk-failure.service)
else
    units=(fieldkit-server.service)
    extra_units=()
fi
for u in "${units[@]}" "${extra_units[@]}"; do put_file "$SCRIPT_DIR/$u" "$UNIT_DIR/$u" 0644; done

if [ "$ROLE" = kiosk ]; then
    # The kiosk and its failure screen run on the same display, so under the same compositor.
    for u in fieldkit-kiosk.service fieldkit-kiosk-failure.service; do
        dropin="$UNIT_DIR/$u.d/display.conf"
        if [ "$DISPLAY_MODE" = cage ]; then
            put_file "$SCRIPT_DIR/$u.d/cage.conf" "$dropin" 0644
        elif [ -e "$R$dropin" ]; then
            run rm -f "$R$dropin"
            CHANGED_FILES+=("$dropin")
        fi
    done
    # systemd >= 254 runs OnFailure= at every failure unless the restart is "direct": without
    # it one transient crash would hand the panel to the failure screen for good. 252
    # (Debian 12 / Raspberry Pi OS Bookworm) does not know the key and only runs OnFailure=
    # once the restarts are used up, so the drop-in is written only where it is understood.
    restart_dropin="$UNIT_DIR/fieldkit-kiosk.service.d/restart-mode.conf"
    # FIELDKIT_SYSTEMD_VERSION: for a target whose systemctl cannot be run from here (an image).
    sd_version="${FIELDKIT_SYSTEMD_VERSION:-$( (query_root systemctl --version 2>/dev/null || true) | awk 'NR == 1 { print $2 + 0 }')}"
    if [ "${sd_version:-0}" -ge 254 ]; then
        put_file - "$restart_dropin" 0644 <<'EOF'
# Written by install.sh (systemd >= 254): restart in place, OnFailure= only once the start
# limit is hit, as systemd 252 does by itself.
[Service]
RestartMode=direct
EOF
    elif [ -e "$R$restart_dropin" ]; then
        run rm -f "$R$restart_dropin"
        CHANGED_FILES+=("$restart_dropin")
    fi
    [ "$DISPLAY_MODE" != cage ] || put_file "$SCRIPT_DIR/fieldkit-kiosk.pam" /etc/pam.d/fieldkit-kiosk 0644
    if [ -f "$R$ETC/kiosk.env" ]; then
        echo "= $ETC/kiosk.env exists (local settings kept)"
    else
        put_file "$SCRIPT_DIR/kiosk.env" "$ETC/kiosk.env" 0640
    fi
    [ -z "$CAMERA" ] || set_env "$ETC/kiosk.env" FIELDKIT_CAMERA "$CAMERA"
    if [ -n "$ROTATE" ]; then
        case "$ROTATE" in
            0) qt=0; cage_r=""; matrix="1 0 0 0 1 0" ;;
            90) qt=90; cage_r="-r"; matrix="0 -1 1 1 0 0" ;;
            180) qt=180; cage_r="-r -r"; matrix="-1 0 1 0 -1 1" ;;
            270) qt=-90; cage_r="-r -r -r"; matrix="0 1 0 -1 0 1" ;;
        esac
        # eglfs: Qt rotates what it draws and the evdev touch / tablet input.
        set_env "$ETC/kiosk.env" QT_QPA_EGLFS_ROTATION "$qt"
        set_env "$ETC/kiosk.env" QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS "rotate=$ROTATE"
        # cage: the compositor rotates the output; libinput rotates touch and stylus.
        set_env "$ETC/kiosk.env" FIELDKIT_CAGE_ARGS "\"$cage_r\""
        put_file - /etc/udev/rules.d/90-fieldkit-touch-rotation.rules 0644 <<EOF
# Written by fieldkit install.sh --rotate $ROTATE (libinput: touch and stylus under cage).
ENV{ID_INPUT_TOUCHSCREEN}=="1", ENV{LIBINPUT_CALIBRATION_MATRIX}="$matrix"
ENV{ID_INPUT_TABLET}=="1", ENV{LIBINPUT_CALIBRATION_MATRIX}="$matrix"
EOF
    fi
    in_root chown "root:$SERVICE_USER" "$ETC/kiosk.env"
fi

# --- 6. no plaintext through the system: cores, swap, logs --------------------------

step "core dumps off, swap, journald"
put_file "$SCRIPT_DIR/sysctl-fieldkit.conf" /etc/sysctl.d/90-fieldkit.conf 0644
put_file "$SCRIPT_DIR/coredump-fieldkit.conf" /etc/systemd/coredump.conf.d/90-fieldkit.conf 0644
put_file "$SCRIPT_DIR/journald-fieldkit.conf" /etc/systemd/journald.conf.d/90-fieldkit.conf 0644
if [ "$ROLE" = kiosk ]; then
    # Raspberry Pi OS swaps to /var/swap (dphys-swapfile): memory pages of the
    # kiosk (card images) must never reach the SD card.
    if pkg_installed dphys-swapfile; then
        if [ -z "$R" ] && command -v dphys-swapfile >/dev/null; then
            run dphys-swapfile swapoff
            run dphys-swapfile uninstall
        fi
        in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q dphys-swapfile
    fi
    if [ -f "$R/var/swap" ]; then run rm -f "$R/var/swap"; fi
    if [ "$SWAP" = zram ]; then
        put_file "$SCRIPT_DIR/zram-generator.conf" /etc/systemd/zram-generator.conf 0644
    elif [ -f "$R/etc/systemd/zram-generator.conf" ]; then
        run rm -f "$R/etc/systemd/zram-generator.conf"
    fi
    if [ -z "$R" ]; then
        # Any other swap left on a disk (not zram) is reported, not silently kept.
        while read -r dev _; do
            case "$dev" in Filename|/dev/zram*) ;; *) echo "WARNING: swap on $dev: remove it (docs/deploy-pi.md)" >&2 ;; esac
        done </proc/swaps
    fi
fi

# --- 7. enable ---------------------------------------------------------------------

step "enable"
live=0
if [ -z "$R" ] && [ -d /run/systemd/system ]; then live=1; fi
if [ "$live" = 1 ]; then run systemctl daemon-reload; fi
# systemctl --root works without a running systemd (chroot, image, this script's tests).
run systemctl --root="$ROOT" enable "${units[@]}"
if [ "$ROLE" = kiosk ]; then
    # The kiosk owns tty1.
    run systemctl --root="$ROOT" disable getty@tty1.service
fi
if [ "$live" = 1 ]; then
    run systemctl restart systemd-journald.service
    run systemctl restart systemd-sysctl.service
    [ ${#CHANGED_FILES[@]} -eq 0 ] || run udevadm control --reload
fi
if [ "$live" = 1 ] && [ "$RESTART" = 1 ]; then
    step "start"
    if [ "$ROLE" = kiosk ]; then
        run systemctl restart fieldkit-sync.path
        # Restarts only what is running or enrolled; the kiosk comes back on its
        # lock screen (an unsaved capture is never on disk).
        run systemctl try-restart fieldkit-sync.service
        # A kiosk that gave up (start limit hit, its failure screen showing) may start again:
        # the update may be its cure. Starting it stops the failure screen (Conflicts=).
        run systemctl reset-failed fieldkit-kiosk.service
        run systemctl restart fieldkit-kiosk.service
    else
        run systemctl restart fieldkit-server.service
    fi
fi

# --- 8. storage check ----------------------------------------------------------------

step "storage check"
"$SCRIPT_DIR/check-storage.sh" "$R$DATA" || true
echo "done. version: $(query_root "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("apoyo-fieldkit"))' 2>/dev/null || echo '(not installed yet)')"
