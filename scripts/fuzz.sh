#!/usr/bin/env bash
# Coverage-guided fuzzing of recur's parsers of untrusted input with
# cargo-fuzz (libFuzzer + AddressSanitizer), on stable Rust.
#
#   scripts/fuzz.sh run [SECONDS] [TARGET...]   fuzz each target SECONDS (default 1800)
#   scripts/fuzz.sh merge [TARGET...]           minimize the working corpus into fuzz/corpus/
#                                               (-set_cover_merge=1 -use_counters=0)
#   scripts/fuzz.sh list                        the targets
#
# Needs `cargo install cargo-fuzz` and a C++ compiler (libfuzzer-sys builds
# libFuzzer). cargo-fuzz passes nightly -Z flags (-Zsanitizer=address and the
# coverage instrumentation); RUSTC_BOOTSTRAP=1 lets stable rustc accept them.
#
# Environment:
#   PARALLEL=N   targets fuzzed at once (default 1); each runs under nice -n 10
#   MEM_MB=N     libFuzzer's -rss_limit_mb and -malloc_limit_mb (default 2048):
#                a process above N MiB, or one allocation above N MiB, is a failure
#
# Flags given to every run (see https://llvm.org/docs/LibFuzzer.html#options):
#   -max_total_time=SECONDS  wall-clock time per target
#   -rss_limit_mb / -malloc_limit_mb=MEM_MB
#   -timeout=10              one input running over 10 s is a failure (a hang)
#   -max_len=4096            (65536 for the checkpoint target: real checkpoints are a few KiB)
#   -print_final_stats=1     executions, peak RSS, ... at the end
#   -dict=dicts/TARGET.dict  where there is one (checkpoint: metadata keys and odd values)
# Built with `cargo fuzz build -O -a`: optimized, with debug assertions and
# overflow checks, so an integer overflow is a panic, hence a failure.
#
# Corpora: seeds/TARGET (hand-written valid inputs; seeds/checkpoint is
# trained by tests/fuzz_regressions.rs before each run, not committed), corpus/TARGET (the
# committed minimized corpus), regressions/TARGET (inputs that once failed;
# tests/fuzz_regressions.rs replays all three) and work/TARGET (the working
# corpus, not committed). Logs go to fuzz/logs/TARGET.log; crash inputs to
# fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
MEM_MB=${MEM_MB:-2048}
PARALLEL=${PARALLEL:-1}

targets() {
    if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cargo fuzz list; fi
}

# The corpus folders of target $1 that exist, the working one first; with
# $2 = noseeds, without the seeds (a merge keeps only what they do not
# already cover: the tests replay the seeds anyway).
dirs() {
    mkdir -p "work/$1"
    echo "work/$1"
    for d in corpus seeds regressions; do
        if [ "$d" = seeds ] && [ "${2:-}" = noseeds ]; then continue; fi
        if [ -d "$d/$1" ]; then echo "$d/$1"; fi
    done
}

fuzz_one() {
    local t=$1 secs=$2 max_len=4096 rc=0 dict=()
    if [ "$t" = checkpoint ]; then max_len=65536; fi
    if [ -f "dicts/$t.dict" ]; then dict=(-dict="dicts/$t.dict"); fi
    # shellcheck disable=SC2046
    nice -n 10 cargo fuzz run -O -a "$t" $(dirs "$t") -- \
        -max_total_time="$secs" -rss_limit_mb="$MEM_MB" -malloc_limit_mb="$MEM_MB" \
        -timeout=10 -max_len="$max_len" -print_final_stats=1 "${dict[@]}" >"logs/$t.log" 2>&1 || rc=$?
    echo "== $t (exit $rc): $(grep -E '^#[0-9]+.*DONE' "logs/$t.log" | tail -1)"
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "logs/$t.log" || true
    return $rc
}

# Train the checkpoint seeds (small model files of every kind) into
# seeds/checkpoint with the test that replays them; model files are not
# committed.
checkpoint_seeds() {
    RECUR_FUZZ_SEEDS="$PWD/seeds/checkpoint" \
        cargo test --release --manifest-path ../Cargo.toml --test fuzz_regressions checkpoint_inputs -q
}

cmd=${1:-run}
shift || true
case $cmd in
list) cargo fuzz list ;;
run)
    secs=1800
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then
        secs=$1
        shift
    fi
    mkdir -p logs
    if targets "$@" | grep -qx checkpoint; then checkpoint_seeds; fi
    cargo fuzz build -O -a
    status=0
    for t in $(targets "$@"); do
        while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n || status=1; done
        fuzz_one "$t" "$secs" &
    done
    while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || status=1; done
    exit $status
    ;;
merge)
    if targets "$@" | grep -qx checkpoint; then checkpoint_seeds; fi
    for t in $(targets "$@"); do
        rm -rf "corpus/$t.new"
        mkdir -p "corpus/$t.new"
        # shellcheck disable=SC2046
        # Edges only (no hit counts) and a set cover: a small corpus to commit
        # that still reaches every edge the fuzzer reached.
        cargo fuzz run -O -a "$t" "corpus/$t.new" $(dirs "$t" noseeds) -- \
            -set_cover_merge=1 -use_counters=0 -max_len=65536
        rm -rf "corpus/$t"
        mv "corpus/$t.new" "corpus/$t"
        echo "== $t: $(find "corpus/$t" -type f | wc -l) inputs, $(du -sh "corpus/$t" | cut -f1)"
    done
    ;;
*)
    sed -n '2,9p' "$0"
    exit 2
    ;;
esac
