#!/usr/bin/env bash
# A virtualenv with the official OpenAI Python client (test/smoke/python-client/.venv),
# rebuilt when requirements.txt changes. Prints the venv's python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"
want="$("$python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$here/requirements.txt")"
if [[ ! -x "$venv/bin/python" || "$want" != "$(cat "$stamp" 2>/dev/null || true)" ]]; then
  echo "building $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" </dev/null >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
