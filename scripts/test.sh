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
lint=0
"$VENV/bin/ruff" check kiosk hardware sync server_stub tests bench || lint=$?
echo "==> mypy"
types=0
"$VENV/bin/mypy" || types=$?  # files, settings and the type-debt list: [tool.mypy] in pyproject.toml
echo "==> pytest"
# Run the suite even when lint or types fail, so one run reports all; any of them fails the command.
tests=0
"$VENV/bin/python" -m pytest "$@" || tests=$?
if [ "$lint" -ne 0 ]; then echo "ruff found problems (see above)" >&2; fi
if [ "$types" -ne 0 ]; then echo "mypy found problems (see above)" >&2; fi
exit $(( tests != 0 ? tests : lint != 0 ? lint : types ))
