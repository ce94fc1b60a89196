#!/bin/sh
# Bootstraps one node of an inception cluster inside its node Pod.
# Usage: bootstrap.sh control-plane|worker
# Mounted from the cluster's "bootstrap" ConfigMap; the token, PKI and kubeadm
# configs come from the Secrets and ConfigMap planned beside it.
set -eu

role="${1:?usage: bootstrap.sh control-plane|worker}"
cfg=/etc/inception

log() { echo "inception-bootstrap: $*" >&2; }

# No traffic may leave through the cloud metadata address: cAdvisor probes it
# as soon as kubelet starts. Reject it in every iptables flavour present.
for ipt in iptables-legacy iptables-nft iptables; do
  command -v "$ipt" >/dev/null 2>&1 || continue
  for chain in OUTPUT FORWARD; do
    "$ipt" -C "$chain" -d 169.254.169.254 -j REJECT 2>/dev/null ||
      "$ipt" -I "$chain" -d 169.254.169.254 -j REJECT 2>/dev/null || true
  done
done

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

# Pod networking of this cluster: a bridge on each node for its podCIDR, and
# a route to every other node's podCIDR through that node (node Pods share
# the parent's network, so one hop reaches them).
network() {
  kc=/etc/kubernetes/kubelet.conf
  node=$(hostname | tr 'A-Z' 'a-z')
  conf=/etc/cni/net.d/10-inception.conflist
  mkdir -p /etc/cni/net.d
  while :; do
    if [ ! -s "$conf" ]; then
      cidr=$(kubectl --kubeconfig "$kc" get node "$node" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null || true)
      if [ -n "$cidr" ]; then
        cat >"$conf.tmp" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "inception",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
        mv "$conf.tmp" "$conf"
        log "pod network $cidr on node $node"
      fi
    fi
    kubectl --kubeconfig "$kc" get nodes -o 'jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' 2>/dev/null |
      while read -r name cidr ip; do
        [ "$name" = "$node" ] || [ -z "$cidr" ] || [ -z "$ip" ] && continue
        ip route replace "$cidr" via "$ip" 2>/dev/null || true
      done
    # Often until this node has its network, so it is Ready soon after.
    if [ -s "$conf" ]; then sleep 3; else sleep 1; fi
  done
}

start_network() { # once per container: the loop waits for kubelet.conf itself
  pid=/run/inception-network.pid
  if [ -s "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then return 0; fi
  network </dev/null >>/var/log/inception-network.log 2>&1 &
  echo $! >"$pid"
}

# Written once kubeadm succeeded: /etc/kubernetes outlives container
# restarts (an emptyDir), so a restarted node keeps its state.
done_mark=/etc/kubernetes/.inception-bootstrapped
if [ -e "$done_mark" ]; then
  log "already bootstrapped"
  touch "$done_mark"
  start_network
  exit 0
fi
# An earlier attempt failed half way: start clean.
if [ -e /etc/kubernetes/kubelet.conf ] || [ -d /etc/kubernetes/manifests ]; then
  log "resetting a failed earlier attempt"
  kubeadm reset -f >/dev/null 2>&1 || true
fi

# The node's pod network follows as soon as it is registered.
start_network

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
  log "kubeadm init"
  kubeadm_quiet init --config "$(render init.yaml)" --skip-phases="$skip"
  ;;
worker)
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
