#!/usr/bin/env bash
# tests/lab/lib/config.sh: the lab's ports, addresses and lab.env.
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

# Ports in use on this machine or reserved by another lab's lab.env.
used_ports() {
  ss -Htan | awk '{ n = split($4, a, ":"); print a[n] }'
  cat "$LABS_DIR"/*/lab.env 2>/dev/null | sed -n 's/^LAB_[A-Z_]*PORT=//p'
}

# Pick N free TCP ports (outside the ephemeral range, which starts at 32768).
pick_ports() {
  local n=$1 used p picked=()
  used=" $(used_ports | tr '\n' ' ') "
  while ((${#picked[@]} < n)); do
    p=$((20000 + RANDOM % 12000))
    [[ $used == *" $p "* ]] && continue
    picked+=("$p")
    used+="$p "
  done
  echo "${picked[@]}"
}

# First usable address of an IPv4 CIDR (10.96.0.0/12 -> 10.96.0.1).
first_ip() {
  local ip=${1%/*} bits=${1#*/} a b c d n
  [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || die "not an IPv4 CIDR: $1"
  IFS=. read -r a b c d <<<"$ip"
  n=$(((a << 24 | b << 16 | c << 8 | d) & (0xffffffff << (32 - bits)) & 0xffffffff))
  n=$((n + 1))
  echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}

# The lab's CIDRs, its kubernetes Service IP and the advertise address.
choose_addresses() {
  SERVICE_CIDR=${LAB_SERVICE_CIDR:-10.96.0.0/12}
  POD_CIDR=${LAB_POD_CIDR:-10.244.0.0/16}
  SERVICE_IP=$(first_ip "$SERVICE_CIDR")
  ADV=${LAB_ADVERTISE_ADDRESS:-$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | sed -n 1p || true)}
  # The apiserver rejects a loopback advertise address for the `kubernetes`
  # Endpoints; nothing connects to it (everything is bound to 127.0.0.1).
  [[ -n $ADV ]] || die "no non-loopback IPv4 address found; set LAB_ADVERTISE_ADDRESS"
}

# Reserve ports under a global lock: they are recorded in lab.env at once.
reserve_ports() {
  exec 7>"$LOCK_DIR/ports.lock"
  flock 7
  if ((WITH_NODE)); then refuse_second_node; fi # again, under the lock
  read -r ETCD_PORT ETCD_PEER_PORT API_PORT CM_PORT SCHED_PORT <<<"$(pick_ports 5)"
  mkdir -p "$STATE"/{pki,pids,logs,etcd}
  chmod 700 "$STATE" "$STATE/etcd"
  write_lab_env
  if ((WITH_NODE)); then
    read -r KUBELET_PORT KUBELET_HEALTHZ_PORT PROXY_HEALTHZ_PORT PROXY_METRICS_PORT <<<"$(pick_ports 4)"
    write_node_lab_env
  fi
  exec 7>&-
}

write_lab_env() {
  cat >"$STATE/lab.env" <<EOF
LAB_NAME=$NAME
LAB_STATE_DIR=$STATE
LAB_KUBECONFIG=$STATE/kubeconfig
LAB_K8S_VERSION=$K8S_VERSION
LAB_BIN_DIR=$BIN_DIR
LAB_API_SERVER=https://127.0.0.1:$API_PORT
LAB_API_PORT=$API_PORT
LAB_ETCD_PORT=$ETCD_PORT
LAB_ETCD_PEER_PORT=$ETCD_PEER_PORT
LAB_CONTROLLER_MANAGER_PORT=$CM_PORT
LAB_SCHEDULER_PORT=$SCHED_PORT
LAB_SERVICE_CIDR=$SERVICE_CIDR
LAB_SERVICE_IP=$SERVICE_IP
LAB_POD_CIDR=$POD_CIDR
LAB_ADVERTISE_ADDRESS=$ADV
EOF
}

write_node_lab_env() {
  cat >>"$STATE/lab.env" <<EOF
LAB_NODE_NAME=$NODE_NAME
LAB_NODE_BRIDGE=$NODE_BRIDGE
LAB_CONTAINERD_SOCKET=$CTR_SOCK
LAB_KUBELET_PORT=$KUBELET_PORT
LAB_KUBELET_HEALTHZ_PORT=$KUBELET_HEALTHZ_PORT
LAB_KUBE_PROXY_HEALTHZ_PORT=$PROXY_HEALTHZ_PORT
LAB_KUBE_PROXY_METRICS_PORT=$PROXY_METRICS_PORT
EOF
}
