#!/usr/bin/env bash
# Builds the SurrealDB server the store tests run against, from the `surrealdb-server` crate
# (tests/surreal-server), into target/surreal-server. Cargo keeps it between runs: a second
# call costs a few seconds. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked --manifest-path tests/surreal-server/Cargo.toml \
  --target-dir target/surreal-server >&2
echo "$PWD/target/surreal-server/debug/surreal"
