#!/usr/bin/env bash
# How long the build script's generation step takes for QEMU 10.0's schema: the doc-free
# extract the default build reads, and the full schema with docs (QMP_SCHEMA).
#
#   bash scripts/bench-codegen.sh                 # needs ../shared/qapi (or QMP_SHARED_DIR)
#   BENCH_ROUNDS=5 bash scripts/bench-codegen.sh
#
# 1. As cargo builds it: build scripts run unoptimised, so this is the figure users see.
#    build.rs prints `generated ... in X s` when QMP_CODEGEN_TIMING is set; the schema is
#    switched between runs so the build script reruns each time. Best of the rounds.
# 2. Where the time goes, in the same unoptimised build: a throwaway program calls the
#    generator's steps one by one: load (parse + checks + model), emit (tokens, then
#    syn::parse2 + prettyplease::unparse per file), and re-runs the two formatting steps
#    on the output to measure them alone. BENCH_PROFILE=release shows optimised figures.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${QMP_SHARED_DIR:-$repo/../shared}"
full="$(cd "$shared/qapi/qemu-10.0/qapi" && pwd)/qapi-schema.json"
extract="$repo/schema/qemu-10.0.json"
rounds="${BENCH_ROUNDS:-3}"
profile="${BENCH_PROFILE:-dev}"
target="${CARGO_TARGET_DIR:-$repo/target}/bench-codegen"

echo "== 1. build script as cargo runs it (debug), best of $rounds"
best_extract="" best_full=""
for ((round = 1; round <= rounds; round++)); do
    for schema in "$extract" "$full"; do
        line=$(cd "$repo" && QMP_SCHEMA="$schema" QMP_CODEGEN_TIMING=1 CARGO_TARGET_DIR="$target" \
            cargo check --lib 2>&1 | grep -o 'generated the bindings from .* in [0-9.]* s' || true)
        secs=$(grep -o '[0-9.]* s$' <<<"$line" | cut -d' ' -f1)
        if [[ -z "$secs" ]]; then
            echo "no timing line for $schema (build failed?)" >&2
            exit 1
        fi
        echo "  round $round: $line"
        if [[ "$schema" == "$extract" ]]; then
            best_extract=$(awk -v a="$best_extract" -v b="$secs" 'BEGIN { print (a == "" || b < a) ? b : a }')
        else
            best_full=$(awk -v a="$best_full" -v b="$secs" 'BEGIN { print (a == "" || b < a) ? b : a }')
        fi
    done
done
echo "  best: extract $best_extract s, full schema with docs $best_full s (target < 1 s)"

echo "== 2. where the time goes (profile $profile)"
work="$(mktemp -d "${TMPDIR:-/tmp}/qmp-bench-codegen.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<EOF
[package]
name = "codegen-phases"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
qemu-qmp-codegen = { path = "$repo/codegen" }
proc-macro2 = "1"
syn = { version = "2", default-features = false, features = ["full", "parsing", "printing"] }
prettyplease = "0.2"

[workspace]
EOF
cat >"$work/src/main.rs" <<'EOF'
use std::time::{Duration, Instant};

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    for path in std::env::args().skip(1).map(std::path::PathBuf::from) {
        let mut best = [Duration::MAX; 4];
        let mut bytes = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let schema = qemu_qmp_codegen::rust::load_for_generation(&path).expect("schema");
            let load = started.elapsed();
            // The build script's options with default features.
            let options = qemu_qmp_codegen::rust::EmitOptions {
                unstable: false,
                dynamic: false,
                ..Default::default()
            };
            let started = Instant::now();
            let generated = qemu_qmp_codegen::rust::emit(&schema, &options).expect("emit");
            let emit = started.elapsed();
            let (mut parse, mut unparse) = (Duration::ZERO, Duration::ZERO);
            bytes = 0;
            for (_, code) in &generated.files {
                bytes += code.len();
                let tokens: proc_macro2::TokenStream = code.parse().expect("tokens");
                let started = Instant::now();
                let file: syn::File = syn::parse2(tokens).expect("syn");
                parse += started.elapsed();
                let started = Instant::now();
                std::hint::black_box(prettyplease::unparse(&file));
                unparse += started.elapsed();
            }
            for (slot, value) in best.iter_mut().zip([load, emit, parse, unparse]) {
                *slot = (*slot).min(value);
            }
        }
        let [load, emit, parse, unparse] = best.map(|d| d.as_secs_f64());
        println!("  {} ({bytes} bytes generated), best of {rounds}:", path.display());
        println!("    load (parse, checks, model)       {load:6.3} s");
        println!("    emit, formatting included         {emit:6.3} s");
        println!("      of which syn::parse2 (approx.)  {parse:6.3} s");
        println!("      of which prettyplease (approx.) {unparse:6.3} s");
        println!("      tokens (the rest)               {:6.3} s", (emit - parse - unparse).max(0.0));
        println!("    total                             {:6.3} s", load + emit);
    }
}
EOF
(cd "$work" && CARGO_TARGET_DIR="$target/phases" BENCH_ROUNDS="$rounds" \
    cargo run --quiet --profile "$profile" -- "$extract" "$full")
