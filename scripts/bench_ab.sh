#!/usr/bin/env bash
# Side-by-side throughput of two recur binaries (A: the reference, e.g. a
# build of the previous commit; B: this one) on the three standard
# configurations, interleaved A/B so that the machine's load hits both
# alike. Prints each run and, per configuration, the median of B/A.
#
#   scripts/bench_ab.sh OLD_BINARY NEW_BINARY [REPEATS] [THREADS]
set -euo pipefail
a=$1 b=$2 reps=${3:-5} threads=${4:-1}
configs=(
  "classic RNN H=100 B=1|--model rnn --hidden 100 --batch 1 --seq-len 25 --iters 400"
  "char-rnn LSTM 2x128 B=50 T=50|--model lstm --layers 2 --hidden 128 --batch 50 --seq-len 50 --iters 20"
  "LSTM 2x512 B=64 T=100|--model lstm --layers 2 --hidden 512 --batch 64 --seq-len 100 --iters 3"
)
rate() { "$1" bench $2 --threads "$threads" | grep -o '[0-9]* chars/s' | grep -o '[0-9]*'; }
for c in "${configs[@]}"; do
  name=${c%%|*} flags=${c#*|}
  ratios=()
  for _ in $(seq "$reps"); do
    ra=$(rate "$a" "$flags"); rb=$(rate "$b" "$flags")
    ratios+=("$(awk -v a="$ra" -v b="$rb" 'BEGIN{printf "%.3f", b/a}')")
    echo "  $name: A $ra  B $rb chars/s"
  done
  sorted=$(printf '%s\n' "${ratios[@]}" | sort -n | tr '\n' ' ')
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
  echo "$name: B/A median $median (all: $sorted)"
done
