#!/usr/bin/env bash
# Builds the validators that `make test` runs (pinned in infra/tools/go-tools.txt, one
# `module/cmd/path@version` per line, optionally after NAME=value words for its build) from the
# Go module proxy into .tools/bin. A tool already built at the pinned version is kept. With
# arguments, builds those `module@version`s instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/.tools/bin"
mkdir -p "$bin" "$root/.tools/stamps"
if ! command -v go >/dev/null 2>&1; then
  echo "install-go-tools: 'go' is not on PATH (install Go 1.22+ from https://go.dev/dl or Debian's golang)" >&2
  exit 1
fi
if [ "$#" -gt 0 ]; then
  specs=("$@")
else
  mapfile -t specs < <(grep -vE '^\s*(#|$)' "$root/infra/tools/go-tools.txt")
fi
for line in "${specs[@]}"; do
  # leading NAME=value words are the build's environment (e.g. GOEXPERIMENT=jsonv2)
  read -r -a words <<<"$line"
  build_env=()
  while [[ "${words[0]}" == *=* ]]; do
    build_env+=("${words[0]}")
    words=("${words[@]:1}")
  done
  spec="${words[0]}"
  name="$(basename "${spec%@*}")"
  # `go install` names a module's major-version path (.../vegeta/v12) after its parent
  if [[ "$name" =~ ^v[0-9]+$ ]]; then
    name="$(basename "$(dirname "${spec%@*}")")"
  fi
  stamp="$root/.tools/stamps/$(echo "$spec" | tr '/@' '__')"
  if [ -x "$bin/$name" ] && [ -f "$stamp" ]; then
    continue
  fi
  echo "building $spec"
  env ${build_env[@]+"${build_env[@]}"} GOBIN="$bin" GOFLAGS=-trimpath CGO_ENABLED=0 go install "$spec"
  touch "$stamp"
done
