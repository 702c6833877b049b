#!/usr/bin/env bash
# The README's test command: installs what the suite needs, then runs it all.
#   scripts/test.sh [pytest args...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_system_packages
ensure_venv dev
cd "$REPO"
export QT_QPA_PLATFORM=offscreen
echo "==> ruff check"
"$VENV/bin/ruff" check kiosk hardware sync server_stub tests bench
echo "==> pytest"
exec "$VENV/bin/python" -m pytest "$@"
