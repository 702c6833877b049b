#!/usr/bin/env bash
# The README's demo command: installs what it needs, then runs the whole chain locally.
#   scripts/demo.sh [fieldkit-demo args...]     e.g. scripts/demo.sh --headless --records 3 --json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_system_packages
ensure_venv dev
cd "$REPO"
exec "$VENV/bin/fieldkit-demo" "$@"
