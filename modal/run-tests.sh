#!/usr/bin/env bash
# Run the Modal engine's pytest suite in its own virtualenv (modal/.venv).
#
# The venv is (re)built when it is missing or when requirements-dev.txt changed
# since it was built (a hash is stored inside it). Needs python3.11+ with venv
# and pip, and access to PyPI for the first run. Never reads standard input.
# Extra arguments go to pytest, e.g. `bash modal/run-tests.sh -k segmentation`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements-dev.txt"
stamp="$venv/.requirements-dev.sha256"

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
  done
fi
if [[ -z "$python" ]]; then
  echo "run-tests.sh: no python3 found (need 3.11 or newer)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "run-tests.sh: $python is older than 3.11" >&2
  exit 1
fi

want="$("$python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$requirements")"
have="$(cat "$stamp" 2>/dev/null || true)"

if [[ ! -x "$venv/bin/python" || "$want" != "$have" ]]; then
  echo "run-tests.sh: building $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
  "$venv/bin/python" -m pip install --quiet --upgrade pip </dev/null
  "$venv/bin/python" -m pip install --quiet -r "$requirements" </dev/null
  echo "$want" >"$stamp"
fi

cd "$here"
# Exit code 5 ("no tests collected") is a failure too: there must always be tests.
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" </dev/null
