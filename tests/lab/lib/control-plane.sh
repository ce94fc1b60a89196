#!/usr/bin/env bash
# tests/lab/lib/control-plane.sh: the control plane: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler; the API as lab-admin.
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

# curl the apiserver as lab-admin
api() {
  curl -sf --max-time 5 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/lab-admin.crt" \
    --key "$STATE/pki/lab-admin.key" "https://127.0.0.1:$API_PORT$1"
}

api_ready() { [[ $(api /readyz) == ok ]]; }

healthy() {
  [[ -f $STATE/lab.env && -f $STATE/kubeconfig && -f $STATE/.up ]] || return 1
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  if has_node; then
    for c in "${NODE_COMPONENTS[@]}"; do alive "$c" || return 1; done
  fi
  API_PORT=$(sed -n 's/^LAB_API_PORT=//p' "$STATE/lab.env")
  api_ready
}

# The export lines: with a node, also the plugin's defaults that fit this
# lab (its node image, release and image archives), so `kubectl inception
# up NAME` needs no flags here; KUBECONFIG comes last.
print_export() {
  if has_node; then
    local images_dir
    images_dir=$(sed -n 's/^LAB_IMAGES_DIR=//p' "$STATE/lab.env")
    printf 'export INCEPTION_KUBERNETES_VERSION=%q\n' "$K8S_VERSION" >&3
    printf 'export INCEPTION_IMAGE=%q\n' "$NODE_IMAGE" >&3
    if [[ -n $images_dir ]]; then printf 'export INCEPTION_IMAGES_DIR=%q\n' "$images_dir" >&3; fi
  fi
  printf 'export KUBECONFIG=%q\n' "$STATE/kubeconfig" >&3
}

start_etcd_apiserver() {
  local pki=$STATE/pki node_api_args=()
  if ((WITH_NODE)); then
    # apiserver -> kubelet (logs, exec, port-forward) as a system:masters user,
    # to the node's InternalIP, checking kubelet's serving cert against the CA
    node_api_args=(--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt"
      --kubelet-client-key="$pki/apiserver-kubelet-client.key"
      --kubelet-certificate-authority="$pki/ca.crt"
      --kubelet-preferred-address-types=InternalIP)
  fi

  log "starting etcd and kube-apiserver (API port $API_PORT)"
  launch etcd etcd --name lab --data-dir "$STATE/etcd" --logger zap --log-outputs stderr \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lab=http://127.0.0.1:$ETCD_PEER_PORT"

  launch kube-apiserver "$BIN_DIR/kube-apiserver" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address="$ADV" --cert-dir="$pki/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    "${node_api_args[@]}"
}

# The controller-manager and scheduler exit if the API (and its RBAC
# bootstrap policy) is not there yet: start them once /readyz says ok.
wait_apiserver() {
  local t1
  t1=$(now)
  wait_until "kube-apiserver /readyz" kube-apiserver api_ready
  log "apiserver ready after $(($(now) - t1))s"
}

start_controllers() {
  local pki=$STATE/pki
  log "starting kube-controller-manager and kube-scheduler"
  launch kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$CM_PORT" --port=0 --cert-dir="$pki/kube-controller-manager" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr="$POD_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" \
    --use-service-account-credentials=true --leader-elect=false --controllers='*'

  launch kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --port=0 --cert-dir="$pki/kube-scheduler" \
    --leader-elect=false
}

# Controllers last: they need the API and the default service account
# (without it, creating pods in `default` fails).
wait_controllers() {
  wait_until "kube-controller-manager" kube-controller-manager \
    curl -skf --max-time 5 "https://127.0.0.1:$CM_PORT/healthz"
  wait_until "kube-scheduler" kube-scheduler curl -skf --max-time 5 "https://127.0.0.1:$SCHED_PORT/healthz"
  wait_until "the default service account" kube-controller-manager \
    api /api/v1/namespaces/default/serviceaccounts/default
}
