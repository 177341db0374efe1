#!/usr/bin/env bash
# The async client against a real QEMU 10.0, side by side in one run with a minimal raw
# client, the `qapi` crate (crates.io) and Python's qemu.qmp (PyPI); then the client alone
# against an in-process fake server. See benches/client.rs for what is measured and how.
#
#   bash scripts/bench-client.sh                   # installs the peers, then runs everything
#   QMP_BENCH_QUICK=1 bash scripts/bench-client.sh # smoke run: tiny counts, no peers
#   QMP_BENCH_REQUESTS=50000 QMP_BENCH_ROUNDS=5 bash scripts/bench-client.sh
#
# The peers are built and installed under the cargo target folder (CARGO_TARGET_DIR, or
# target/ of this repository): the qapi peer as a release build of
# benches/peers/qapi_client, qemu.qmp into a venv at bench-peers/venv. Installed once,
# reused after. The figures need a quiet machine: other builds running beside it show up
# as noise (rounds alternate the contenders and the best round counts, which helps).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TARGET_DIR="$target"

have_qemu10() {
    local qemu="${QMP_QEMU:-$(command -v qemu-system-x86_64 || true)}"
    [[ -n "$qemu" && -x "$qemu" ]] && "$qemu" --version | grep -q 'version 10\.0\.'
}
if ! have_qemu10; then
    echo "QEMU 10.0 not found: installing it (scripts/install-qemu.sh)" >&2
    bash "$repo/scripts/install-qemu.sh" >&2
fi

if [[ -z "${QMP_BENCH_QUICK:-}" || "${QMP_BENCH_QUICK}" == "0" ]]; then
    echo "building the qapi peer (release) ..." >&2
    cargo build --quiet --release --locked \
        --manifest-path "$repo/benches/peers/qapi_client/Cargo.toml"
    export QMP_BENCH_QAPI_PEER="$target/release/qapi-client-peer"

    QMP_BENCH_PYTHON="$(bash "$repo/scripts/python-peer.sh")"
    export QMP_BENCH_PYTHON
fi

cd "$repo"
echo "running: cargo bench --bench client (CARGO_TARGET_DIR=$target) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo bench --quiet --bench client
