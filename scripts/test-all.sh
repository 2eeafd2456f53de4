#!/usr/bin/env bash
# The whole test suite (what CI runs): lint, Rust tests, the addon and CLI builds, the JS tests on
# SQLite, PostgreSQL and MariaDB, and the type tests. Starts the database servers it needs.
#
# Everything a test runs is built here, from this checkout, into CARGO_TARGET_DIR when it is set or
# ./target: the addon (kavachos.<platform>.node, copied into npm/<platform>/), the kavach-cli binary
# (passed to the JS tests as KAVACH_CLI), and the packed tarballs the packaging and Next.js tests make.
# Builds left from earlier runs are removed first, so nothing older can be loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

bash scripts/services.sh

echo "== install"
npm ci --no-audit --no-fund

echo "== rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== Rust tests (SQLite, PostgreSQL, MariaDB)"
cargo test --workspace

echo "== build the addon and the CLI"
rm -f kavachos.*.node npm/*/kavachos.*.node "$target/release/kavach-cli"
npm run build
cargo build -p kavach-cli --release
export KAVACH_CLI="$target/release/kavach-cli"

echo "== type tests (tsc --strict)"
npm run test:types

echo "== JS tests against the built addon and CLI (SQLite, PostgreSQL, MariaDB)"
npm test

echo "== database faults: PostgreSQL and MariaDB restarted under load (on its own: it stops shared servers)"
npm run test:faults
