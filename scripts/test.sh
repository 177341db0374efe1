#!/usr/bin/env bash
# The project's test command (the README's second command): every test of the workspace,
# against the real QEMUs that scripts/install-qemu.sh provides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-qemu.sh
cargo test --workspace --all-features --quiet
