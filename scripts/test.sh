#!/usr/bin/env bash
# Every check of registre, as CI runs it: formatting, lints, then the whole test suite.
# Needs a Rust toolchain (rustup) and Debian's apt: installs the rustfmt and clippy components,
# Chromium, poppler-utils and Node.js when missing, and the browser tests' npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "registre: cargo is required (install Rust with rustup)" >&2
  exit 2
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

echo "== Chromium, poppler-utils (pdftotext) and Node.js for the page and PDF tests"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  $sudo apt-get update -q
  $sudo apt-get install -y -q "${missing[@]}"
fi
echo "== axe-core and playwright-core (tests/browser, versions locked)"
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== SurrealDB server for the store tests (built once, then cached)"
REGISTRE_SURREAL_BIN=$(scripts/surreal-server.sh)
export REGISTRE_SURREAL_BIN
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary, the last one being
# the documentation tests).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "registre: %d passed, %d failed\n", passed, failed }' "$log"
