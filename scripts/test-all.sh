#!/usr/bin/env bash
# The whole test suite (what CI runs): lint, Rust tests, the addon build, the JS tests on SQLite,
# PostgreSQL and MariaDB, and the type tests. Starts the database servers it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

echo "== install"
npm ci --no-audit --no-fund

echo "== rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== Rust tests (SQLite, PostgreSQL, MariaDB)"
cargo test --workspace

echo "== build the addon"
npm run build

echo "== type tests (tsc --strict)"
npm run test:types

echo "== JS tests against the built addon (SQLite, PostgreSQL, MariaDB)"
npm test
