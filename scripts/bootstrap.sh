#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with the given extras.
# Idempotent: it reinstalls only when pyproject.toml or the requested extras change.
# Usage: scripts/bootstrap.sh [EXTRAS]   e.g. scripts/bootstrap.sh dev,convert
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A checkout serves an edge in the demo and the tests, so its environment always has the edge
# role's extra on top of what was asked (a device-only install is `pip install sciot`).
extras="${1:-}"
case ",$extras," in
    *,edge,*) ;;
    *) extras="edge${extras:+,$extras}" ;;
esac
venv="${SCIOT_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "sciot needs Python >= 3.11 (found: $("$python" --version 2>&1)); set PYTHON=..." >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "bootstrap: creating virtual environment in $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 >&2 \
        | { grep -v "^WARNING: Location '.*' is ignored" >&2 || true; }
fi
stamp="$venv/.sciot-stamp-$(echo "$extras" | tr ',' '_')"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    spec="$root"
    [ -n "$extras" ] && spec="$root[$extras]"
    echo "bootstrap: installing sciot${extras:+[$extras]} (first run takes a few minutes)" >&2
    # pip warns once per package about index locations a machine's pip.conf names but lacks;
    # keep its real errors and drop that noise.
    # With pipefail a failing pip still stops the script; grep itself never fails it.
    "$venv/bin/python" -m pip install --quiet -e "$spec" 2>&1 >&2 \
        | { grep -v "^WARNING: Location '.*' is ignored" >&2 || true; }
    echo "$want" > "$stamp"
fi
