#!/usr/bin/env bash
# Run the Modal engine's pytest suites, each in its own virtualenv:
#   tests/        in modal/.venv        (requirements-dev.txt: the SDK, no torch)
#   tests_model/  in modal/.venv-model  (requirements-model*.txt: torch + qwen-tts on CPU,
#                                        tiny random checkpoints; ≈ 4 GB of wheels the first time)
#
# A venv is (re)built when it is missing or when its requirements changed since it
# was built (a hash is stored inside it). Needs python3.11+ with venv and pip, and
# the package registry for the first run. Never reads standard input.
# Extra arguments go to pytest, e.g. `bash modal/run-tests.sh -k segmentation`;
# UTTER_MODEL_TESTS=0 skips the real-model suite (quick local runs only; CI runs both).
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

hash_of() {
  "$python" -c 'import hashlib, sys; h = hashlib.sha256()
for p in sys.argv[1:]: h.update(open(p, "rb").read())
print(h.hexdigest())' "$@"
}

# ensure_venv DIR REQUIREMENTS [NODEPS_REQUIREMENTS]
ensure_venv() {
  local venv="$1" requirements="$2" nodeps="${3:-}"
  local stamp="$venv/.requirements.sha256" want have
  want="$(hash_of "$here/requirements-dev.txt" "$requirements" ${nodeps:+"$nodeps"})"
  have="$(cat "$stamp" 2>/dev/null || true)"
  if [[ ! -x "$venv/bin/python" || "$want" != "$have" ]]; then
    echo "run-tests.sh: building $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$venv/bin/python" -m pip install --quiet --upgrade pip </dev/null
    "$venv/bin/python" -m pip install --quiet -r "$requirements" </dev/null
    if [[ -n "$nodeps" ]]; then
      "$venv/bin/python" -m pip install --quiet --no-deps -r "$nodeps" </dev/null
    fi
    echo "$want" >"$stamp"
  fi
}

ensure_venv "$here/.venv" "$here/requirements-dev.txt"
cd "$here"
# Exit code 5 ("no tests collected") is a failure: there must always be tests.
"$here/.venv/bin/python" -m pytest -q -p no:cacheprovider "$@" </dev/null

if [[ "${UTTER_MODEL_TESTS:-1}" == "0" ]]; then
  echo "run-tests.sh: UTTER_MODEL_TESTS=0, skipping tests_model/" >&2
  exit 0
fi
ensure_venv "$here/.venv-model" "$here/requirements-model.txt" "$here/requirements-model-nodeps.txt"
status=0
"$here/.venv-model/bin/python" -m pytest -q -p no:cacheprovider tests_model "$@" </dev/null || status=$?
# With a -k filter that only matched the main suite, "no tests collected" here is fine.
if [[ $status -eq 5 && $# -gt 0 ]]; then status=0; fi
exit $status
