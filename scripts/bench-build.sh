#!/usr/bin/env bash
# Cold build time of a tiny program using our bindings (every release of schema/releases,
# default features) against the same program using the `qapi` crate from crates.io
# (features qmp and async-tokio-all), and against the floor: a program with only our
# library's dependencies and no bindings. Each in a fresh temp folder with its own
# CARGO_TARGET_DIR, measured side by side in one run. Downloads are done before the clock
# starts (cargo fetch).
#
#   bash scripts/bench-build.sh            # debug builds, as `cargo build` does
#   BENCH_PROFILE=release bash scripts/bench-build.sh
#   BENCH_TIMINGS=1 bash scripts/bench-build.sh   # also the slowest units (cargo --timings)
#   BENCH_ROUNDS=3 bash scripts/bench-build.sh    # alternate 3 times, keep the best of each
#   BENCH_OURS_FEATURES=run-state bash scripts/bench-build.sh   # ours with only these modules
#
# Wall time is what a user waits; CPU time (user + sys of cargo and every rustc) is also
# printed because it is far less disturbed by other work on a shared machine.
# Prints both times, the ratio (target: ours <= 0.6x) and the generated code's size.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
profile="${BENCH_PROFILE:-dev}"
work="$(mktemp -d "${TMPDIR:-/tmp}/qmp-bench-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
jobs_flag=()
if [[ -n "${BENCH_JOBS:-}" ]]; then jobs_flag=(-j "$BENCH_JOBS"); fi

make_crate() { # name dependency-line main-body
    mkdir -p "$work/$1/src"
    cat >"$work/$1/Cargo.toml" <<EOF
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$2
serde_json = "1"

[workspace]
EOF
    cat >"$work/$1/src/main.rs" <<EOF
fn main() {
$3
}
EOF
}

ours_dep="qemu-qmp = { path = \"$repo\" }"
if [[ -n "${BENCH_OURS_FEATURES:-}" ]]; then
    # A comma-separated list of module features instead of `full`, e.g. run-state.
    list=$(sed 's/[^,][^,]*/"&"/g' <<<"$BENCH_OURS_FEATURES")
    ours_dep="qemu-qmp = { path = \"$repo\", default-features = false, features = [$list] }"
fi
make_crate ours "$ours_dep" '
    let status: qemu_qmp::api::StatusInfo =
        serde_json::from_str(r#"{"running": true, "status": "running"}"#).unwrap();
    println!("{status:?}");'
# The floor: our library's own dependencies, as it enables them, and no bindings.
make_crate floor 'futures-core = "0.3"
libc = "0.2"
serde = "1"
tokio = { version = "1", features = ["net", "rt", "sync", "time"] }
tracing = { version = "0.1", default-features = false, features = ["std"] }' '
    let status: serde_json::Value = serde_json::from_str(r#"{"running": true}"#).unwrap();
    println!("{status:?}");'
make_crate theirs 'qapi = { version = "0.15", features = ["qmp", "async-tokio-all"] }' '
    let status: qapi::qmp::StatusInfo =
        serde_json::from_str(r#"{"running": true, "status": "running"}"#).unwrap();
    println!("{status:?}");'

build() { # name -> "wall cpu" seconds on stdout (cpu: user + sys of cargo and rustc)
    local dir="$work/$1"
    rm -rf "$dir/target"
    local timings=()
    if [[ -n "${BENCH_TIMINGS:-}" ]]; then timings=(--timings); fi
    local TIMEFORMAT="%R %U %S" measured
    measured=$( { time (cd "$dir" && CARGO_TARGET_DIR="$dir/target" \
        cargo build --quiet --profile "$profile" "${jobs_flag[@]}" "${timings[@]}" \
        >"$dir/build.log" 2>&1) ; } 2>&1 ) || { cat "$dir/build.log" >&2; exit 1; }
    awk '{ printf "%.2f %.2f", $1, $2 + $3 }' <<<"$measured"
}

# QMP_SCHEMA must not leak in: the default build reads the crate's own extract.
unset QMP_SCHEMA
# Our crate is a path dependency here, and cargo compiles path dependencies incrementally
# (which costs a cold build extra work to save its query cache); a user who takes the crate
# from crates.io never pays that, and neither does `qapi` here. So both sides build as
# registry crates do. BENCH_INCREMENTAL=1 keeps cargo's path-dependency behaviour.
if [[ -z "${BENCH_INCREMENTAL:-}" ]]; then export CARGO_INCREMENTAL=0; fi
rounds="${BENCH_ROUNDS:-1}"
(cd "$work/ours" && cargo fetch --quiet)
(cd "$work/theirs" && cargo fetch --quiet)
(cd "$work/floor" && cargo fetch --quiet)
echo "building cold, profile $profile, $(nproc) cores, $rounds round(s), in $work ..." >&2
best() { # "wall cpu" "wall cpu" -> the pair with the smaller wall time
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (a == "" || y[1] < x[1]) print b; else print a }'
}
ours="" theirs="" floor=""
for ((round = 1; round <= rounds; round++)); do
    o=$(build ours)
    t=$(build theirs)
    f=$(build floor)
    echo "  round $round: ours $o, theirs $t, floor $f (wall s, cpu s)" >&2
    ours=$(best "$ours" "$o")
    theirs=$(best "$theirs" "$t")
    floor=$(best "$floor" "$f")
done
read -r ours_wall ours_cpu <<<"$ours"
read -r theirs_wall theirs_cpu <<<"$theirs"
read -r floor_wall floor_cpu <<<"$floor"

size_of() { # out dir, file glob -> "files lines bytes"
    if [[ -z "$1" ]]; then echo "0 0 0"; return; fi
    local files=("$1"/$2)
    if [[ ! -e "${files[0]}" ]]; then echo "0 0 0"; return; fi
    echo "${#files[@]} $(cat "${files[@]}" | wc -l) $(cat "${files[@]}" | wc -c)"
}
profile_dir=$([[ "$profile" == dev ]] && echo debug || echo "$profile")
our_out=$(ls -dt "$work"/ours/target/"$profile_dir"/build/qemu-qmp-*/out 2>/dev/null | head -1 || true)
their_out=$(ls -dt "$work"/theirs/target/"$profile_dir"/build/qapi-qmp-*/out 2>/dev/null | head -1 || true)
read -r of ol ob <<<"$(size_of "$our_out" 'qmp*.rs')"
read -r tf tl tb <<<"$(size_of "$their_out" '*.rs')"

releases=$(grep -v '^#' "$repo/schema/releases" | grep . | sed 's/^qemu-//; s/\.json$//' | paste -sd, -)
printf 'cold build, ours   (qemu-qmp, QEMU %s, %s): %6.1f s wall, %6.1f s cpu\n' "$releases" "${BENCH_OURS_FEATURES:-default features}" "$ours_wall" "$ours_cpu"
printf 'cold build, theirs (qapi 0.15, qmp + async-tokio-all):           %6.1f s wall, %6.1f s cpu\n' "$theirs_wall" "$theirs_cpu"
printf 'cold build, floor  (our dependencies only, no bindings):         %6.1f s wall, %6.1f s cpu\n' "$floor_wall" "$floor_cpu"
awk -v a="$ours_wall" -v b="$theirs_wall" -v c="$ours_cpu" -v d="$theirs_cpu" \
    'BEGIN { printf "ratio ours / theirs: %.2f wall, %.2f cpu (target <= 0.60)\n", a / b, c / d }'
printf 'generated code, ours:   %s files, %s lines, %s bytes\n' "$of" "$ol" "$ob"
printf 'generated code, theirs: %s files, %s lines, %s bytes\n' "$tf" "$tl" "$tb"

if [[ -n "${BENCH_TIMINGS:-}" ]]; then
    for name in ours theirs; do
        report=$(ls -t "$work/$name"/target/cargo-timings/cargo-timing-*.html | head -1)
        echo "slowest units, $name:"
        python3 - "$report" <<'EOF'
import json, re, sys
html = open(sys.argv[1]).read()
data = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);", html, re.S).group(1))
print(f"  {sum(u['duration'] for u in data):6.1f} s  in {len(data)} units (sum of unit times)")
for unit in sorted(data, key=lambda u: -u["duration"])[:12]:
    target = unit["target"].strip() or "lib"
    print(f"  {unit['duration']:6.1f} s  {unit['name']} {unit['version']} {target}")
EOF
    done
fi
