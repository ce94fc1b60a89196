#!/usr/bin/env bash
# tests/bench/lib/ab.sh: two variants of `up` side by side in one run on one
# lab, rounds in alternating order, medians and ratios. Sourced by
# tests/bench/agent and tests/bench/durable, which set: work (a scratch
# dir), depth, workers, version, and define variant VARIANT, printing the
# plugin, the image, the images dir and any extra flags of `up`, one a line.
# shellcheck disable=SC2154 # work, depth, workers, version: set by the caller

die() { echo "bench: error: $*" >&2; exit 1; }

# Only one lab with a node at a time (as `lab up --with-node` enforces):
# any lab whose lab.env names a node, unless its `up` failed.
no_node_lab() { # CACHE
  local f other
  for f in "$1"/labs/*/lab.env; do
    [[ -f $f && ! -e ${f%/lab.env}/.failed ]] || continue
    if grep -q '^LAB_NODE_NAME=' "$f"; then
      other=$(basename "$(dirname "$f")")
      die "lab '$other' has a node and only one lab with a node runs at a time: stop it with 'tests/lab/lab down --name $other' first"
    fi
  done
}

# ab_run VARIANT ROUND: one up and down; appends "VARIANT TOTAL L1 L2 ..." to
# $work/runs and "VARIANT LEVEL BOOT APPLY PODS NODES" lines to $work/phases.
ab_run() {
  local v=$1 r=$2 t0 total status=0 bin img imgs
  local -a how extra
  mapfile -t how < <(variant "$v")
  ((${#how[@]} >= 3)) || die "variant $v: expected the plugin, the image and the images dir"
  bin=${how[0]} img=${how[1]} imgs=${how[2]} extra=("${how[@]:3}")
  local tree=ab$r${v%%-*}
  echo "bench: round $r, $v: up $tree --depth $depth --workers $workers ${extra[*]}" >&2
  t0=$EPOCHREALTIME
  "$bin" up "$tree" --depth "$depth" --workers "$workers" --kubernetes-version "$version" \
    --image "$img" --images-dir "$imgs" --timeout 10m "${extra[@]}" >"$work/up.out" 2>"$work/up.err" || status=$?
  total=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [[ $status != 0 ]]; then
    tail -n 25 "$work/up.err" >&2
    "$bin" down "$tree" >/dev/null 2>&1 || true
    die "round $r, $v: up failed after ${total}s (exit $status)"
  fi
  # cluster PATH Ready: ... (boot B s: apply A s, node Pods P s, nodes N s)
  sed -n 's/^cluster \([^ ]*\) Ready: .*(boot \([0-9.]*\)s: apply \([0-9.]*\)s, node Pods \([0-9.]*\)s, nodes \([0-9.]*\)s).*/\1 \2 \3 \4 \5/p' \
    "$work/up.out" | awk -v v="$v" '{ n = split($1, p, "/"); print v, n, $2, $3, $4, $5 }' >"$work/levels"
  [[ $(wc -l <"$work/levels") -eq $depth ]] || { cat "$work/up.out" >&2; die "round $r, $v: expected $depth 'cluster ... Ready' lines from up"; }
  cat "$work/levels" >>"$work/phases"
  printf '%s %s %s\n' "$v" "$total" "$(sort -k2n "$work/levels" | awk '{ printf "%s ", $3 }')" >>"$work/runs"
  printf '  round %d  %-9s  up %6.1fs  levels %s\n' "$r" "$v" "$total" "$(sort -k2n "$work/levels" | awk '{ printf "%ss ", $3 }')"
  "$bin" down "$tree" >&2 || die "round $r, $v: down $tree failed"
}

# ab_rounds A B ROUNDS: A then B in odd rounds, B then A in even ones.
ab_rounds() {
  local r
  for ((r = 1; r <= $3; r++)); do
    if ((r % 2)); then ab_run "$1" "$r"; ab_run "$2" "$r"; else ab_run "$2" "$r"; ab_run "$1" "$r"; fi
  done
}

# ab_medians A B ROUNDS: the medians of both and the ratio B / A.
ab_medians() {
  local a=$1 b=$2 l
  echo
  printf 'medians over %s rounds (s)     %9s %9s   %s/%s\n' "$3" "$a" "$b" "$b" "$a"
  median() { sort -n | awk '{ x[NR] = $1 } END { if (NR % 2) print x[(NR + 1) / 2]; else printf "%.1f\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'; }
  row() { printf '  %-30s %9s %9s %8s\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b / a }')"; }
  m() { awk -v v="$1" -v c="$2" -v l="${3:-0}" '$1 == v && (l == 0 || $2 == l) { print $c }' "$4" | median; }
  row "up, wall" "$(m "$a" 2 0 "$work/runs")" "$(m "$b" 2 0 "$work/runs")"
  for ((l = 1; l <= depth; l++)); do
    row "level $l boot" "$(m "$a" 3 "$l" "$work/phases")" "$(m "$b" 3 "$l" "$work/phases")"
    row "level $l   apply" "$(m "$a" 4 "$l" "$work/phases")" "$(m "$b" 4 "$l" "$work/phases")"
    row "level $l   node Pods" "$(m "$a" 5 "$l" "$work/phases")" "$(m "$b" 5 "$l" "$work/phases")"
    row "level $l   nodes" "$(m "$a" 6 "$l" "$work/phases")" "$(m "$b" 6 "$l" "$work/phases")"
  done
}
