#!/usr/bin/env bash
# Startup of the `qmp` tool against qmp-shell, side by side in one run on one real QEMU
# 10.0: `qmp exec SOCKET query-status` (connect, negotiate, one command, print) against
# `echo query-status | python3 -m qemu.qmp.qmp_shell SOCKET`, both from a release build /
# the PyPI release, alternating, wall time per run (median and best of the rounds). Then
# the same with an argument (`query-named-block-nodes flat=true`), which `qmp exec` checks
# against the running QEMU's schema, so it fetches `query-qmp-schema` first.
#
#   bash scripts/bench-cli.sh            # 30 rounds
#   QMP_BENCH_ROUNDS=100 bash scripts/bench-cli.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TARGET_DIR="$target"
rounds="${QMP_BENCH_ROUNDS:-30}"

echo "building qmp (release) ..." >&2
cargo build --quiet --release -p qemu-qmp-cli
python="$(bash "$repo/scripts/python-peer.sh")"

dir="$(mktemp -d)"
qemu_pid=""
cleanup() {
    [[ -n "$qemu_pid" ]] && kill "$qemu_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
qemu-system-x86_64 -M none -nodefaults -display none \
    -qmp "unix:$dir/qmp.sock,server=on,wait=off" &
qemu_pid=$!
for _ in $(seq 100); do [[ -S "$dir/qmp.sock" ]] && break; sleep 0.05; done

echo "on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(qemu-system-x86_64 --version | head -1)" >&2
"$python" - "$rounds" "$target/release/qmp" "$python" "$dir/qmp.sock" <<'PY'
import statistics, subprocess, sys, time

rounds, qmp, python, sock = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
shell = [python, "-m", "qemu.qmp.qmp_shell", sock]
for title, words, expect in [
    ("query-status", ["query-status"], b'"running"'),
    ("query-named-block-nodes flat=true", ["query-named-block-nodes", "flat=true"], b"[]"),
]:
    contenders = {
        "qmp exec (this tool, release)": ([qmp, "exec", "--compact", sock] + words, None),
        "qmp-shell (qemu.qmp 0.0.6)": (shell, (" ".join(words) + "\n").encode()),
    }
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (argv, stdin) in contenders.items():
            start = time.perf_counter()
            done = subprocess.run(argv, input=stdin, capture_output=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0 or expect not in done.stdout:
                sys.exit(f"{name} failed: {done.stdout!r} {done.stderr!r}")
            times[name].append(elapsed)
    print(f"{title}, {rounds} rounds:")
    ours = statistics.median(times["qmp exec (this tool, release)"])
    for name, t in times.items():
        med = statistics.median(t)
        print(f"  {name:32} median {med * 1000:7.2f} ms  best {min(t) * 1000:7.2f} ms  ({med / ours:5.1f}x qmp exec)")
PY
