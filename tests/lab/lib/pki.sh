#!/usr/bin/env bash
# tests/lab/lib/pki.sh: the lab's certificates and kubeconfigs (openssl; no
# kubectl needed).
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

# Certificate signed by pki/ca: cert NAME SUBJECT EXTENSIONS
cert() {
  local id=$1 subj=$2 ext=$3 pki=$STATE/pki
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$id.key" 2>/dev/null
  openssl req -new -key "$pki/$id.key" -subj "$subj" -out "$pki/$id.csr"
  printf '%s\n' "$ext" >"$pki/$id.ext"
  openssl x509 -req -in "$pki/$id.csr" -CA "$pki/${4:-ca}.crt" -CAkey "$pki/${4:-ca}.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$pki/$id.ext" -out "$pki/$id.crt" 2>/dev/null
  rm -f "$pki/$id.csr" "$pki/$id.ext"
}

ca() { # ca NAME CN
  openssl ecparam -name prime256v1 -genkey -noout -out "$STATE/pki/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$STATE/pki/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature' \
    -out "$STATE/pki/$1.crt"
}

# Kubeconfig written by hand (no kubectl needed): FILE USER
kubeconfig() {
  local file=$1 user=$2 pki=$STATE/pki
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab-$NAME
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$pki/$user.crt")
    client-key-data: $(base64 -w0 "$pki/$user.key")
contexts:
- name: lab-$NAME
  context:
    cluster: lab-$NAME
    user: $user
current-context: lab-$NAME
EOF
  )
}

CLIENT_EXT='keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'

# PKI: ECDSA P-256 everywhere, RSA 2048 for the service-account key.
make_pki() {
  local pki=$STATE/pki
  log "generating certificates in $STATE/pki"
  ca ca lab-ca
  ca front-proxy-ca lab-front-proxy-ca
  cert apiserver /CN=kube-apiserver "$(printf '%s\n' \
    'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' \
    "subjectAltName=IP:127.0.0.1,IP:$SERVICE_IP,IP:$ADV,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")"
  cert lab-admin /O=system:masters/CN=lab-admin "$CLIENT_EXT"
  cert controller-manager /CN=system:kube-controller-manager "$CLIENT_EXT"
  cert scheduler /CN=system:kube-scheduler "$CLIENT_EXT"
  cert front-proxy-client /CN=front-proxy-client "$CLIENT_EXT" front-proxy-ca
  if ((WITH_NODE)); then make_node_pki; fi
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
}

# The node's: apiserver -> kubelet (logs, exec, port-forward) as a
# system:masters user, kubelet and kube-proxy -> apiserver, kubelet's
# serving certificate (the apiserver checks it against the CA).
make_node_pki() {
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client "$CLIENT_EXT"
  cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$CLIENT_EXT"
  cert kube-proxy /CN=system:kube-proxy "$CLIENT_EXT"
  cert kubelet "/CN=$NODE_NAME" "$(printf '%s\n' \
    'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' \
    "subjectAltName=IP:$ADV,IP:127.0.0.1,DNS:$NODE_NAME")"
}

write_kubeconfigs() {
  kubeconfig "$STATE/kubeconfig" lab-admin
  kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
  kubeconfig "$STATE/scheduler.kubeconfig" scheduler
  if ((WITH_NODE)); then
    kubeconfig "$STATE/kubelet.kubeconfig" kubelet-client
    kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy
  fi
}
