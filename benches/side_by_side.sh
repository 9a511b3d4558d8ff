#!/usr/bin/env bash
# Runs the LangGraph shapes and the agentflow shapes back to back on this machine and prints the
# ratio per shape. Needs the LangGraph venv (see benches/langgraph/README.md).
#   benches/side_by_side.sh [--runs N] [--only a,b]
set -euo pipefail
cd "$(dirname "$0")/.."
# The LangGraph venv: LANGGRAPH_PYTHON, or .venv-langgraph at the checkout root.
PY="${LANGGRAPH_PYTHON:-.venv-langgraph/bin/python}"
out=$(mktemp -d)
cargo build --release -q -p agentflow-benches --bin shapes
target="${CARGO_TARGET_DIR:-target}"
"$target/release/shapes" "$@" >"$out/rust.tsv"
"$PY" benches/langgraph/shapes.py "$@" >"$out/python.tsv"
printf 'shape\tlanggraph_ms\tagentflow_ms\tspeedup\n'
awk -F'\t' 'NR==FNR { if ($0 !~ /^#/) py[$1]=$2; next }
            ($0 !~ /^#/) && ($1 in py) { printf "%s\t%s\t%s\t%.0fx\n", $1, py[$1], $2, py[$1]/$2 }' \
    "$out/python.tsv" "$out/rust.tsv"
