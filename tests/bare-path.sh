#!/usr/bin/env bash
# scripts/test on a machine with Rust and Python alone: a PATH without tshark, lintian,
# cargo-deb, qemu-system-x86_64, systemd-analyze and strace (every other program stays where it
# is). It must pass, and end by naming each part it skipped with how to get its tool; with
# CI=true the same machine must fail, at the first part that lacks a tool. .ci/run runs it
# after the full run, which has built everything it reuses.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "bare-path: FAILED: $*" >&2; exit 1; }

hidden=(tshark lintian cargo-deb qemu-system-x86_64 systemd-analyze strace)
bare=$(mktemp -d); out=$(mktemp)
trap 'rm -rf "$bare" "$out"' EXIT
# The PATH as it is, less the hidden programs: a directory of links to everything else, the
# first of each name winning, as in a lookup.
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  for program in "$dir"/*; do
    name=${program##*/}
    [ -f "$program" ] && [ -x "$program" ] && [ ! -e "$bare/$name" ] || continue
    printf '%s\n' "${hidden[@]}" | grep -qxF -- "$name" && continue
    ln -s "$program" "$bare/$name"
  done
done
for program in "${hidden[@]}"; do
  ! PATH=$bare command -v "$program" >/dev/null || fail "$program is still on the bare PATH"
done

echo "bare-path: scripts/test without ${hidden[*]}"
started=$SECONDS
if ! env -u CI PATH="$bare" scripts/test >"$out" 2>&1; then
  tail -40 "$out" >&2
  fail "scripts/test failed on the bare PATH"
fi
# Each part that needs a hidden tool is named at the end, with how to get the tool.
summary=$(sed -n '/^Passed in .* skipped for want of their tools/,$p' "$out")
[ -n "$summary" ] || { tail -20 "$out" >&2; fail "no summary of skipped parts"; }
for how in "tshark (apt-get install tshark)" "lintian (apt-get install lintian)" \
  "cargo-deb (cargo install cargo-deb)" "qemu-system-x86_64 (apt-get install qemu-system-x86)" \
  "systemd-analyze (apt-get install systemd)" "strace (apt-get install strace)"; do
  grep -qF -- "$how" <<<"$summary" || fail "the summary does not name $how:
$summary"
done
echo "bare-path: passed in $((SECONDS - started)) s, naming what it skipped:"
sed 's/^/  | /' <<<"$summary"

# In CI every part runs: the same PATH is a failure, at the first missing tool.
started=$SECONDS
if CI=true PATH="$bare" scripts/test >"$out" 2>&1; then
  fail "with CI=true, scripts/test passed without its tools"
fi
said=$(grep "^CI runs every part" "$out") || { tail -20 "$out" >&2; fail "with CI=true it failed, but not for a missing tool"; }
echo "bare-path: with CI=true it failed after $((SECONDS - started)) s: $said"
