#!/usr/bin/env bash
# Shared set-up: system packages (apt-get when root, else sudo) and the
# project's venv. Idempotent: a second run installs nothing new.
# Sourced by scripts/test.sh and scripts/demo.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FIELDKIT_VENV:-$REPO/.venv}"

# Debian / Raspberry Pi OS package names.
SYSTEM_PACKAGES=(
    python3-venv python3-dev
    mosquitto mosquitto-clients   # the real broker the tests and demo start
    libzbar0                      # pyzbar, the fallback QR decoder
    tesseract-ocr                 # independent MRZ read-back check in the outbox tests
    fonts-ocr-b fonts-dejavu-core # OCR-B for the synthetic MRZ; UI font
    postgresql                    # multi-worker server store tests
    chromium chromium-driver      # headless dashboard tests (Selenium with the system driver)
    libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0  # Qt offscreen
    # Qt's xcb platform: the GUI demo and the kiosk under X (from `ldd` on PySide6's libqxcb.so;
    # without them the window never opens). Xvfb: the X server the test of that runs on.
    libxcb1 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
    libxcb-xfixes0 libxcb-xkb1 libxcb-glx0 libxkbcommon-x11-0
    xvfb
    tzdata                        # zone database: periods are days in America/Mexico_City etc.
    systemd                       # systemd-analyze verify on our units
    shellcheck                    # systemd/install.sh and check-storage.sh must be shellcheck-clean
)

ensure_system_packages() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            echo "faltan paquetes del sistema y no hay sudo: ${missing[*]}" >&2; return 1
        fi
    fi
    echo "==> apt-get install ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_venv() {
    local extras="${1:-dev}"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> python3 -m venv $VENV"
        # --system-site-packages lets a Pi see python3-picamera2 from apt.
        if [ -n "${FIELDKIT_SYSTEM_SITE:-}" ]; then
            python3 -m venv --system-site-packages "$VENV"
        else
            python3 -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.fieldkit-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$REPO/pyproject.toml" -nt "$stamp" ] \
            || [ "$REPO/requirements-nodeps.txt" -nt "$stamp" ]; then
        echo "==> pip install -e .[$extras]"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "${REPO}[${extras}]"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$REPO/requirements-nodeps.txt"
        touch "$stamp"
    fi
}
