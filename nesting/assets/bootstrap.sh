#!/bin/sh
# Bootstraps one node of an inception cluster inside its node Pod.
# Usage: bootstrap.sh control-plane|worker
# Mounted from the cluster's "bootstrap" ConfigMap; the token, PKI and kubeadm
# configs come from the Secrets and ConfigMap planned beside it.
set -eu

role="${1:?usage: bootstrap.sh control-plane|worker}"
cfg=/etc/inception

log() { echo "inception-bootstrap: $*" >&2; }

# The cloud metadata address is rejected in this node Pod by the image's
# entrypoint (setup_iptables), in both iptables backends, before kubelet or
# this script runs: one place per machine layer.

# Nothing of this cluster may ever reach its parent's API: neither this node
# nor what it runs (hostNetwork containers in OUTPUT, other Pods in FORWARD),
# whatever credentials they find. Every TCP connection to the parent's
# kubernetes Service (the parent's kubelet puts its address in this Pod's
# environment) or to the parent apiserver's own endpoints (listed by the
# plugin in the bootstrap ConfigMap) is rejected in the chain
# INCEPTION-PARENT-API, jumped to first from OUTPUT and FORWARD, in every
# iptables backend present: the kernel runs the chains of each, so any one
# holding the rules enforces them (and the first to see a connection counts
# it: read the counters of all). Before kubelet starts, and never flushed: a
# retry adds only what is missing, so the counters keep every attempt made.
guard=INCEPTION-PARENT-API
parents=
if [ -n "${KUBERNETES_SERVICE_HOST:-}" ]; then
  parents="$KUBERNETES_SERVICE_HOST ${KUBERNETES_SERVICE_PORT:-443}"
else
  log "warning: no KUBERNETES_SERVICE_HOST: the parent's kubernetes Service is unknown"
fi
if [ -r "$cfg/bootstrap/parent-apiservers" ]; then
  parents="$parents
$(cat "$cfg/bootstrap/parent-apiservers")"
fi
parents4=
parents6=
while read -r ip port; do
  [ -n "$ip" ] || continue
  case "$ip" in
  *:*) parents6="$parents6 $ip,$port" ;;
  *) parents4="$parents4 $ip,$port" ;;
  esac
done <<EOF
$parents
EOF

guard_parent_api() { # $1 = iptables|ip6tables, $2 = "ip,port ..."; fails if no backend took all
  [ -n "$2" ] || return 0
  took=0
  for ipt in "$1-legacy" "$1-nft" "$1"; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    "$ipt" -w 5 -n -L "$guard" >/dev/null 2>&1 || "$ipt" -w 5 -N "$guard" 2>/dev/null || continue
    all=1
    for t in $2; do
      rule="-p tcp -d ${t%,*} --dport ${t##*,} -j REJECT --reject-with tcp-reset"
      # shellcheck disable=SC2086 # the rule is a word list
      "$ipt" -w 5 -C "$guard" $rule 2>/dev/null || "$ipt" -w 5 -A "$guard" $rule || all=0
    done
    for chain in OUTPUT FORWARD; do
      "$ipt" -w 5 -C "$chain" -j "$guard" 2>/dev/null || "$ipt" -w 5 -I "$chain" -j "$guard" || all=0
    done
    if [ "$all" = 1 ]; then
      took=$((took + 1))
    else
      log "warning: $ipt cannot reject all of the parent's API:$2"
    fi
  done
  [ "$took" -gt 0 ]
}
if ! guard_parent_api iptables "$parents4" || ! guard_parent_api ip6tables "$parents6"; then
  log "cannot keep this node away from the parent's API ($parents4$parents6): not bootstrapping"
  exit 1
fi
log "parent API rejected in $guard:$parents4$parents6"

token=$(cat "$cfg/token/token")
skip=$(cat "$cfg/kubeadm/skip-phases")

# kubeadm prints the bootstrap token (in its join instructions): run it with
# the token blanked out of its output, which ends up in the Pod's logs.
kubeadm_quiet() {
  { kubeadm "$@" 2>&1; echo $? >/run/kubeadm-rc; } |
    sed -u -e "s/$token/<token redacted>/g" -e "s/${token#*.}/<redacted>/g"
  return "$(cat /run/kubeadm-rc)"
}

render() { # kubeadm config with the token filled in, readable by root only
  umask 077
  sed "s/@BOOTSTRAP_TOKEN@/$token/g" "$cfg/kubeadm/$1" >"/run/kubeadm-$1"
  echo "/run/kubeadm-$1"
}

# Written once kubeadm succeeded: /etc/kubernetes outlives container
# restarts (an emptyDir), so a restarted node keeps its state.
done_mark=/etc/kubernetes/.inception-bootstrapped
if [ -e "$done_mark" ]; then
  log "already bootstrapped"
  touch "$done_mark"
  exit 0
fi
# An earlier attempt failed half way: start clean.
if [ -e /etc/kubernetes/kubelet.conf ] || [ -d /etc/kubernetes/manifests ]; then
  log "resetting a failed earlier attempt"
  kubeadm reset -f >/dev/null 2>&1 || true
fi

# The node's pod network is the node agent's (inception-agent, started by
# the entrypoint before kubelet): it writes the CNI config, a temp file in
# /etc/cni/net.d renamed over 10-inception.conflist (containerd reloads on
# the temp file's RENAME event). This script only runs kubeadm.

case "$role" in
control-plane)
  # kubeadm reuses the CAs, keys and certificates given and makes the rest.
  # The planned apiserver certificate is left out: kubeadm insists that it
  # also names this Pod's IP and hostname, unknown when planning, so kubeadm
  # signs its own from the same CA, with the same certSANs plus those.
  mkdir -p /etc/kubernetes/pki/etcd
  for f in "$cfg"/pki/*; do
    name=$(basename "$f")
    case "$name" in
    admin.* | apiserver.crt | apiserver.key) ;;
    etcd-*) cp "$f" "/etc/kubernetes/pki/etcd/${name#etcd-}" ;;
    *) cp "$f" "/etc/kubernetes/pki/$name" ;;
    esac
  done
  chmod 600 /etc/kubernetes/pki/*.key /etc/kubernetes/pki/etcd/*.key
  # The apiserver holds two thirds of a level's memory: a garbage collector
  # target of 50 % (Go's default is 100) keeps about 80 MB less of it. A
  # kubeadm patch sets it (patches are a flag in every version; 1.20 and
  # 1.21 call it --experimental-patches).
  patches=/run/kubeadm-patches
  mkdir -p "$patches"
  printf '%s\n' 'spec:' '  containers:' '  - name: kube-apiserver' '    env:' \
    '    - name: GOGC' '      value: "50"' >"$patches/kube-apiserver+strategic.yaml"
  patches_flag=--patches
  if kubeadm init --help 2>/dev/null | grep -q -- --experimental-patches; then
    patches_flag=--experimental-patches
  fi
  log "kubeadm init"
  kubeadm_quiet init --config "$(render init.yaml)" --skip-phases="$skip" "$patches_flag=$patches"
  ;;
worker)
  # kubeadm's discovery looks every 5 s; the agent every half second.
  inception-agent join-wait || log "warning: could not wait for the control plane; joining anyway"
  log "kubeadm join"
  until kubeadm_quiet join --config "$(render join.yaml)" --skip-phases=preflight; do
    log "join failed; retrying in 2s"
    sleep 2
  done
  ;;
*)
  log "unknown role $role: use control-plane or worker"
  exit 2
  ;;
esac

touch "$done_mark"
