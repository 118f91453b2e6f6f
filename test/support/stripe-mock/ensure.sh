#!/usr/bin/env bash
# The billing tests check every outbound Stripe request against Stripe's own
# stripe-mock, which validates requests against Stripe's API description.
# Installs the pinned version into .tools/bin (git-ignored) with Go when it is
# missing; Go is on the team's machines and CI. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
version="v0.203.0"
bin="$here/.tools/bin/stripe-mock"
stamp="$here/.tools/bin/stripe-mock.version"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then echo "$bin"; exit 0; fi
go="$(command -v go || true)"
[ -n "$go" ] || { [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go; }
if [ -z "$go" ]; then
  echo "The billing tests need stripe-mock $version, built with Go: install Go (https://go.dev/doc/install), then rerun." >&2
  exit 1
fi
echo "installing stripe-mock $version into .tools/bin…" >&2
mkdir -p "$here/.tools/bin"
GOBIN="$here/.tools/bin" GOFLAGS=-mod=mod "$go" install "github.com/stripe/stripe-mock@$version" </dev/null >&2
echo "$version" >"$stamp"
echo "$bin"
