#!/usr/bin/env bash
# Runs the whole side-by-side comparison and writes bench/RESULTS.md and bench/results.png.
# Builds Switchboard and the generator in release mode, installs the Node baseline's pinned
# npm packages and the Python SDK's websockets if needed, then runs `switchboard-bench compare` with any arguments given
# (see `target/release/switchboard-bench compare --help`); for the soak, say
# `bench/run.sh --scenarios soak --servers switchboard --soak-secs 600`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p gateway --bin switchboard
cargo build --release -q -p switchboard-bench --bins
if [ ! -d bench/node/node_modules/ws ]; then
  (cd bench/node && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d target/python/websockets ]; then
  # The switchboard-python server runs the Python SDK's echo, whose one package goes here.
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --target target/python -r sdk/python/requirements.txt
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BENCH_COMMAND="bench/run.sh $*" exec target/release/switchboard-bench compare "$@"
