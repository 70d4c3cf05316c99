#!/usr/bin/env bash
# Runs smartgate's performance comparison (bench/cmd/compare) and prints
# markdown tables for docs/benchmarks.md on stdout.
#
#   bench/run.sh                                # full run: 3 reps x 10 s x c=1,8,32 (about 15 min)
#   BENCH_DURATION=2s BENCH_REPS=1 bench/run.sh # quick check
#   BENCH_FLOORS_ONLY=1 bench/run.sh            # floors only, smartgate "pending"
#
# Everything is bounded (BENCH_MAX_TOTAL, default 60m) and loopback-only.
# The servers are children of compare; it stops them on exit, and they get
# SIGKILL if compare dies (Pdeathsig). The trap below also stops compare.
set -euo pipefail
cd "$(dirname "$0")/.."

compare_pid=""
cleanup() {
	if [[ -n "$compare_pid" ]] && kill -0 "$compare_pid" 2>/dev/null; then
		kill -TERM "$compare_pid" 2>/dev/null || true
		wait "$compare_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

bin="$(mktemp -d)"
trap 'cleanup; rm -rf "$bin"' EXIT
go build -o "$bin/compare" ./bench/cmd/compare
"$bin/compare" "$@" &
compare_pid=$!
wait "$compare_pid"
