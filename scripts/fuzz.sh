#!/usr/bin/env bash
# The fuzz targets (fuzz/: cargo-fuzz on libFuzzer, nightly toolchain for this step only): builds
# them and runs each for a bounded time from its committed corpus (fuzz/corpus/<target>/). A panic,
# a 5xx from the HTTP handler, a broken invariant or an input running over 10 s fails the run; the
# input is kept in fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run <target> <file>).
#
# FUZZ_SECONDS per target (default 20); FUZZ_TARGETS to run some only (space separated). New
# inputs found go to a scratch folder: the committed corpus is never changed by a run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# No sanitizer: the code under test is safe Rust (libFuzzer's coverage guidance and Rust's own
# overflow and bounds checks, on with debug assertions, find what we look for) at half the cost.
flags=(-s none --target-dir "$target_dir")
echo "== fuzz: build"
cargo +nightly fuzz build "${flags[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in ${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}; do
  echo "== fuzz: $t (${seconds}s)"
  mkdir -p "$scratch/$t"
  set +e
  cargo +nightly fuzz run "${flags[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -v '^#[0-9]'
  status="${PIPESTATUS[0]}"
  set -e
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
