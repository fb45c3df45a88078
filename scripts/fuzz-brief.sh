#!/usr/bin/env bash
# Runs every Go fuzz target of the module for $FUZZTIME each. `go test -fuzz`
# takes one target of one package at a time, so list them first.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
n=0
for pkg in $($GO list ./...); do
	for target in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target ($FUZZTIME)"
		$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
		n=$((n + 1))
	done
done
echo "fuzz: $n targets, no failure"
