#!/usr/bin/env bash
# Installs Python's qemu.qmp (PyPI) into a venv under the cargo target folder, once, and
# prints the venv's python. The peer the benchmarks compare with (bench-client.sh,
# bench-cli.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
# The PyPI release of qemu.qmp the figures were taken with.
qemu_qmp_version="${QMP_BENCH_QEMU_QMP_VERSION:-0.0.6}"
venv="$target/bench-peers/venv"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('qemu.qmp') != '$qemu_qmp_version')" 2>/dev/null; then
    echo "installing qemu.qmp $qemu_qmp_version into $venv ..." >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
        # Debian's own python3 keeps venv (ensurepip) in a separate package.
        sudo_cmd=()
        [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q python3-venv >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "qemu.qmp==$qemu_qmp_version" >&2
fi
echo "$venv/bin/python"
