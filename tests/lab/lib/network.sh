#!/usr/bin/env bash
# tests/lab/lib/network.sh: the node's iptables guards and rule clean-up, and
# its CNI config.
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

# The iptables front ends of this machine (both legacy and nft, if present
# and the kernel supports them).
ipt_v4() {
  local v
  for v in iptables-legacy iptables-nft; do
    if command -v "$v" >/dev/null && "$v" -w -S OUTPUT >/dev/null 2>&1; then echo "$v"; fi
  done
}
ipt_all() {
  local v
  for v in iptables-legacy iptables-nft ip6tables-legacy ip6tables-nft; do if command -v "$v" >/dev/null; then echo "$v"; fi; done
}

# ipt_rule add|del IPT CHAIN RULE...: insert RULE atop CHAIN unless it is
# there (filter table), or delete every copy of it.
ipt_rule() {
  local op=$1 ipt=$2 chain=$3
  shift 3
  if [[ $op == add ]]; then
    "$ipt" -w -C "$chain" "$@" 2>/dev/null || "$ipt" -w -I "$chain" "$@"
  else
    while "$ipt" -w -D "$chain" "$@" 2>/dev/null; do :; done
  fi
}

# kubelet probes the cloud metadata address at start (its AWS credential
# provider, cAdvisor); nothing may leave this machine. Shared by all labs:
# removed by the last node's `down`. The only place of this rule on this
# machine; each node Pod (its own network namespace: another machine layer)
# has its own, from images/node/entrypoint.
metadata_guard() { # add|del
  local ipt c
  for ipt in $(ipt_v4); do
    for c in OUTPUT FORWARD; do
      ipt_rule "$1" "$ipt" "$c" -d "$METADATA_IP/32" \
        -m comment --comment "kubectl-inception lab: no cloud metadata" -j REJECT || return 1
    done
  done
}

# This lab's safety net: pods reach only the bridge and this machine, and
# a ClusterIP that kube-proxy does not (yet) translate is refused instead
# of being routed to the default gateway.
lab_guard() { # add|del POD_CIDR SERVICE_CIDR
  local ipt c
  for ipt in $(ipt_v4); do
    ipt_rule "$1" "$ipt" FORWARD -s "$2" ! -o "$NODE_BRIDGE" \
      -m comment --comment "kubectl-inception lab $NAME: pods reach only this machine" -j REJECT || return 1
    for c in OUTPUT FORWARD; do
      ipt_rule "$1" "$ipt" "$c" -d "$3" \
        -m comment --comment "kubectl-inception lab $NAME: unknown ClusterIP" -j REJECT || return 1
    done
  done
}

# ipt_purge IPT CHAIN_RE [MARK]: in each table, delete the rules outside
# CHAIN_RE chains that jump to CHAIN_RE chains (or, with MARK, the rules that
# contain MARK), then flush and delete those chains (with MARK: only the
# chains the deleted rules jumped to).
ipt_purge() {
  local ipt=$1 re=$2 mark=${3:-} t rules line c target chains
  for t in filter nat mangle raw; do
    rules=$("$ipt" -w -t "$t" -S 2>/dev/null) || continue
    chains=()
    while IFS= read -r line; do
      case $line in
        "-N "*)
          c=${line#-N }
          if [[ -z $mark && $c =~ $re ]]; then chains+=("$c"); fi
          ;;
        "-A "*)
          read -r _ c _ <<<"$line"
          target=$(sed -n 's/.* -[jg] \([^ ]*\).*/\1/p' <<<"$line")
          if [[ -n $mark && $line == *"$mark"* ]] || [[ -z $mark && ! $c =~ $re && $target =~ $re ]]; then
            eval "\"\$ipt\" -w -t \"\$t\" -D ${line#-A }" 2>/dev/null || true
            if [[ -n $mark && $target =~ $re ]]; then chains+=("$target"); fi
          fi
          ;;
      esac
    done <<<"$rules"
    ((${#chains[@]})) || continue
    for c in "${chains[@]}"; do "$ipt" -w -t "$t" -F "$c" 2>/dev/null || true; done
    for c in "${chains[@]}"; do "$ipt" -w -t "$t" -X "$c" 2>/dev/null || true; done
  done
}

# bridge + host-local for the node's podCIDR (containerd adds loopback
# itself). Written in place in one write(): containerd 1.6 reloads its CNI
# config on WRITE, RENAME and REMOVE events in conf_dir only, so a file made
# elsewhere and renamed into net.d (a CREATE there) would go unnoticed. (The
# node agent of a node Pod renames a temp file made in net.d itself: that
# file's RENAME event makes containerd reload.)
write_cni_conf() { # POD_CIDR_OF_THE_NODE
  local conf
  conf=$(
    cat <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$1" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  )
  printf '%s\n' "$conf" >"$STATE/cni/net.d/10-$CNI_NET.conflist"
}
