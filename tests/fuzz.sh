#!/usr/bin/env bash
# The fuzzing campaign, on demand: every cargo-fuzz target in fuzz/ (or the ones named) runs for
# SECONDS_PER_TARGET seconds (default 60), one after another, seeded from fuzz/corpus/<target>/.
# Crashes are minimized and copied into fuzz/regressions/<target>/, which the stable replay
# tests (cargo test --workspace --test fuzz_replay) run from then on. Prints a table of
# executions, coverage and crashes per target; exits 1 if anything crashed.
#
#   bash tests/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]
#
# FUZZ_WORK (default $BIZRA_CACHE/fuzz, else /var/cache/kubectl-bizra/fuzz) holds the growing
# work corpora, logs and artifacts, so the committed corpus stays small; FUZZ_MERGE=1 merges the
# inputs that add coverage back into fuzz/corpus/ at the end. FUZZ_KEEP_GOING=1 fuzzes on past
# crashes (libFuzzer's -fork=1 -ignore_crashes=1), e.g. while a known crash awaits its fix; then
# at most the 3 smallest crashes of a target are kept.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
shift || true
work=${FUZZ_WORK:-${BIZRA_CACHE:-/var/cache/kubectl-bizra}/fuzz}
# The fuzz crate is its own workspace with its own target folder (fuzz/target, git-ignored).
unset CARGO_TARGET_DIR
# A build with fewer codegen units fuzzes a little faster but builds much slower on 2 cores.
codegen_units=8

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd "$repo/fuzz"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# No sanitizer (-s none): the code is safe Rust (the workspace denies unsafe_code), so ASan
# would add nothing but cost; panics and failed invariants still abort as crashes. It also keeps
# the build and the runs light on this 2-core machine, which another build may be sharing.
nice -n 10 cargo +nightly fuzz build -s none --codegen-units "$codegen_units"
bin_dir="$repo/fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

mkdir -p "$work"
summary="$work/summary.tsv"
printf 'target\tseconds\texecutions\texec_per_s\tcov\tft\tcorpus\tcrashes\n' >"$summary"
status=0
for target in "${targets[@]}"; do
    corpus="$work/$target/corpus"
    artifacts="$work/$target/artifacts"
    log="$work/$target/fuzz.log"
    mkdir -p "$corpus" "$artifacts"
    rm -f "$artifacts"/*
    cp -n "$repo/fuzz/corpus/$target"/* "$corpus/"
    if [ -d "$repo/fuzz/regressions/$target" ]; then
        cp -n "$repo/fuzz/regressions/$target"/* "$corpus/" 2>/dev/null || true
    fi
    dict=()
    [ -f "$repo/fuzz/dict/$target.dict" ] && dict=("-dict=$repo/fuzz/dict/$target.dict")
    mode=()
    [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    echo "fuzzing $target for ${seconds}s (log: $log)" >&2
    start=$(date +%s)
    # One job at a time, niced: the machine has 2 cores.
    if nice -n 10 "$bin_dir/$target" "$corpus" "${dict[@]}" "${mode[@]}" \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        :
    fi
    elapsed=$(($(date +%s) - start))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # In fork mode the parent's status lines carry the executions of all its jobs.
    [ -n "$executions" ] || executions=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
    executions=${executions:-0}
    last=$(grep -E '^#[0-9]+:?[[:space:]].*cov: [0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$(find "$artifacts" -type f | wc -l)
    for artifact in $(ls -Sr "$artifacts" | head -3); do
        artifact="$artifacts/$artifact"
        [ -f "$artifact" ] || continue
        mkdir -p "$repo/fuzz/regressions/$target"
        name=$(basename "$artifact")
        minimized="$work/$target/minimized-$name"
        # Smallest input that still crashes; the original if minimizing fails.
        if nice -n 10 "$bin_dir/$target" -minimize_crash=1 -runs=20000 -timeout=25 \
            -exact_artifact_path="$minimized" "$artifact" >>"$work/$target/minimize.log" 2>&1 &&
            [ -s "$minimized" ]; then
            cp "$minimized" "$repo/fuzz/regressions/$target/$name"
        else
            cp "$artifact" "$repo/fuzz/regressions/$target/$name"
        fi
        echo "CRASH in $target: fuzz/regressions/$target/$name (log: $log)" >&2
        status=1
    done
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        nice -n 10 "$bin_dir/$target" -merge=1 "$repo/fuzz/corpus/$target" "$corpus" \
            >"$work/$target/merge.log" 2>&1
    fi
    rate=$((executions / (elapsed > 0 ? elapsed : 1)))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$elapsed" "$executions" "$rate" \
        "${cov:-?}" "${ft:-?}" "$(find "$corpus" -type f | wc -l)" "$crashes" >>"$summary"
done

awk -F'\t' '
    NR == 1 { printf "%-26s %8s %14s %10s %7s %7s %8s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8; next }
    { printf "%-26s %8s %14s %10s %7s %7s %8s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8; s += $2; e += $3; c += $8 }
    END { printf "%-26s %8s %14s %10s %7s %7s %8s %8s\n", "total", s, e, "", "", "", "", c }
' "$summary"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(rustc +nightly --version)"
exit "$status"
