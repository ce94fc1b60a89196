#!/usr/bin/env bash
# tests/lab/lib/node.sh: `up --with-node`: one node on this machine
# (containerd, kubelet, kube-proxy), its images, its stop and clean-up.
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

IMPORT_PID= # the pid of `lab _images` while `up` runs it

# Per-lab names derived from NAME alone, so `down` cleans up even without
# lab.env: bridge (at most 15 chars), CNI network, cgroup root, socket.
node_names() {
  if ((${#NAME} <= 11)); then
    NODE_BRIDGE=lab-$NAME
  else
    NODE_BRIDGE=lab-$(printf %s "$NAME" | sha256sum | cut -c1-11)
  fi
  CNI_NET=kubectl-inception-$NAME
  CGROUP_ROOT=/kubectl-inception-$NAME
  CTR_SOCK=$STATE/containerd.sock
}

has_node() { grep -qs '^LAB_NODE_NAME=' "$STATE/lab.env"; }

# ctr against this lab's containerd (never the system one)
ctr_() { timeout 60 ctr --connect-timeout 5s -a "$CTR_SOCK" "$@"; }
ctr_ready() { [[ -S $CTR_SOCK ]] && ctr_ version; }

# Labs other than this one with a node (their lab.env has LAB_NODE_NAME),
# starting, running or crashed; not a failed `up` (already torn down).
other_node_labs() {
  local f
  for f in "$LABS_DIR"/*/lab.env; do
    [[ -f $f && $f != "$STATE/lab.env" && ! -e ${f%/lab.env}/.failed ]] || continue
    if grep -q '^LAB_NODE_NAME=' "$f"; then basename "$(dirname "$f")"; fi
  done
}

# Does any process of lab DIR still run (its pid files, our state dir)?
lab_runs() {
  local f pid
  for f in "$1"/pids/*; do
    pid=$(cat "$f" 2>/dev/null) || continue
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$1/"; then return 0; fi
  done
  return 1
}

# Another node lab that nothing runs in and no `up`/`down` holds (left by a
# restart of the machine or a killed runner) is taken down, not refused.
take_down_stale_node_labs() {
  local o
  for o in $(other_node_labs); do
    if lab_runs "$LABS_DIR/$o"; then continue; fi
    (flock -n 6 || exit 1) 6>"$LOCK_DIR/lab-$o.lock" || continue
    log "lab '$o' has a node but none of its processes run (left by a restart?); taking it down"
    "$LAB_SCRIPT" down --name "$o" >&2 || die "could not take stale lab '$o' down: run 'tests/lab/lab down --name $o'"
  done
}

refuse_second_node() {
  local others
  take_down_stale_node_labs
  others=$(other_node_labs | tr '\n' ' ')
  [[ -z ${others// /} ]] || die "lab '${others%% *}' has a node ($LABS_DIR/${others%% *}); only one lab with a node at a time (kube-proxy's iptables chains are global): run 'tests/lab/lab down --name ${others%% *}' first, or start '$NAME' without --with-node"
}

# The cgroup hierarchies of this machine (v1 controllers, or the v2 root).
cgroup_mounts() { findmnt -rn -t cgroup,cgroup2 -o TARGET; }

# kubelet's --cgroup-root must exist; a new cpuset cgroup needs cpus/mems.
make_cgroup_root() {
  local h d f
  for h in $(cgroup_mounts); do
    d=$h$CGROUP_ROOT
    mkdir -p "$d"
    for f in cpuset.cpus cpuset.mems; do
      if [[ -f $d/$f && -z $(cat "$d/$f") ]]; then cat "$h/$f" >"$d/$f"; fi
    done
  done
}

# LAB_NODE_IMAGES, checked before anything starts.
check_node_images() {
  local a
  [[ -n ${LAB_NODE_IMAGES:-} ]] || {
    [[ -x $NODE_IMAGE_BUILD ]] || die "$NODE_IMAGE_BUILD is missing; it builds the node image archive (or set LAB_NODE_IMAGES to image archives)"
    return 0
  }
  for a in $LAB_NODE_IMAGES; do [[ -f $a ]] || die "LAB_NODE_IMAGES: '$a' does not exist"; done
}

# `lab _images` (the background job of `up --with-node`, in its own session
# so that a failed `up` stops it with everything it runs): get the image
# archives (LAB_NODE_IMAGES, or the last stdout line of images/node/build),
# list them in $STATE/images.list, then import them into the lab's
# containerd as soon as it answers.
cmd_images() {
  local out a t0 deadline archives=()
  if [[ -n ${LAB_NODE_IMAGES:-} ]]; then
    read -ra archives <<<"$LAB_NODE_IMAGES"
  else
    t0=$(now)
    log "running $NODE_IMAGE_BUILD"
    out=$("$NODE_IMAGE_BUILD" </dev/null 3>&-) || die "$NODE_IMAGE_BUILD failed"
    archives=("$(tail -n1 <<<"$out")")
    log "$NODE_IMAGE_BUILD: ${archives[0]} in $(($(now) - t0))s"
  fi
  ((${#archives[@]})) || die "no image archive to import"
  for a in "${!archives[@]}"; do
    [[ -f ${archives[a]} ]] || die "image archive '${archives[a]}' does not exist"
    archives[a]=$(realpath "${archives[a]}")
  done
  printf '%s\n' "${archives[@]}" >"$STATE/images.list"
  deadline=$(($(now) + LAB_TIMEOUT))
  until ctr_ready >/dev/null 2>&1; do
    (($(now) <= deadline)) || die "containerd does not answer on $CTR_SOCK"
    sleep 0.2
  done
  t0=$(now)
  for a in "${archives[@]}"; do
    log "importing $a"
    ctr -a "$CTR_SOCK" -n k8s.io images import "$a" || die "ctr images import $a failed"
  done
  log "images imported in $(($(now) - t0))s"
}

write_node_configs() { # ADVERTISE_ADDRESS
  local adv=$1 pki=$STATE/pki d=$STATE/containerd
  mkdir -p "$d"/{root,state,tmp,opt,runc} "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/kubelet/pki"
  chmod 700 "$d" "$STATE/kubelet"
  cat >"$d/config.toml" <<EOF
# containerd of lab '$NAME': root, state, socket, runc root and CNI
# config under the lab's state dir.
version = 2
root = "$d/root"
state = "$d/state"
temp = "$d/tmp"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CTR_SOCK"

[ttrpc]
  address = "$CTR_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # this machine's root lacks CAP_SYS_RESOURCE: never lower oom_score_adj
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$d/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF

  # No DNS in the lab: pods get a nameserver that answers nothing at once
  # (with no nameserver at all, containerd would copy the machine's).
  printf '# lab %s: no DNS\nnameserver 127.0.0.1\n' "$NAME" >"$STATE/resolv.conf"
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $adv
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failSwapOn: false
oomScoreAdj: 0
evictionHard:
  memory.available: "0%"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
imageGCHighThresholdPercent: 100
nodeStatusUpdateFrequency: 2s
resolvConf: $STATE/resolv.conf
clusterDomain: cluster.local
EOF
}

node_json() { api "/api/v1/nodes/$NODE_NAME"; }
node_cidr() { node_json | jq -er '.spec.podCIDR // empty'; }
# shellcheck disable=SC2034 # FAIL_HINT: read by fail_with_log (procs.sh) and cmd_status
node_ready() {
  local j
  j=$(node_json) || return 1
  FAIL_HINT="node $NODE_NAME: $(jq -r '[.status.conditions[]? | select(.type == "Ready") | "Ready=\(.status) \(.reason): \(.message)"] | first // "not registered"' <<<"$j")"
  jq -e '.status.conditions[]? | select(.type == "Ready" and .status == "True")' <<<"$j" >/dev/null
}

# Kill every task of the lab's containerd, then delete tasks and containers.
kill_tasks() {
  local ns ids id
  for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
    ids=$(ctr_ -n "$ns" tasks ls -q 2>/dev/null) || continue
    for id in $ids; do ctr_ -n "$ns" tasks kill -a -s KILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do ctr_ -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
      ctr_ -n "$ns" containers rm "$id" >/dev/null 2>&1 || true
    done
  done
}

# Whatever is left: processes in the lab's cgroups (containers) and shims
# (and any node process) whose command line has the lab's state dir.
kill_leftovers() {
  local pass p cmd pids h
  for pass in 1 2 3 4 5 6 7 8 9 10; do
    pids=()
    for h in $(cgroup_mounts); do
      [[ -d $h$CGROUP_ROOT ]] || continue
      while read -r p; do pids+=("$p"); done < <(find "$h$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null)
    done
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [[ $p == "$$" || $p == "$BASHPID" ]] && continue
      cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
      case $(basename "${cmd%% *}") in
        containerd-shim* | containerd | kubelet | kube-proxy | runc | ctr) [[ $cmd == *"$STATE/"* ]] && pids+=("$p") ;;
      esac
    done
    ((${#pids[@]})) || return 0
    mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un) # each cgroup v1 hierarchy lists them
    ((pass > 1)) || log "killing ${#pids[@]} leftover node processes"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.3
  done
  log "warning: node processes still alive: ${pids[*]}"
}

# Unmount everything under DIR (kubelet volumes, overlays, network
# namespaces), deepest first.
unmount_under() {
  local pass m mounts
  for pass in 1 2 3; do
    mapfile -t mounts < <(findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r)
    ((${#mounts[@]})) || return 0
    for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  done
  log "warning: still mounted under $1: ${mounts[*]}"
}

# Stop and remove the node of this lab: kube-proxy, kubelet, containers,
# containerd; mounts, cgroups, bridge, iptables rules, files outside STATE.
stop_node() {
  has_node || [[ -d $STATE/containerd ]] || return 0
  node_names
  local others sockets uids ids u l h ipt lab_pod_cidr lab_service_cidr
  others=$(other_node_labs)
  if [[ -n $IMPORT_PID ]]; then kill -TERM -- "-$IMPORT_PID" 2>/dev/null || true; fi
  stop_component inception-agent
  stop_component kube-proxy
  stop_component kubelet
  # shim sockets live in /run/containerd/s: note them while the shims run
  sockets=$(cat "$STATE"/containerd/state/io.containerd.runtime.v2.task/*/*/address 2>/dev/null | sed 's|^unix://||' || true)
  # The pods of this node, for their dirs in /var/log/pods: kubelet's own
  # list, plus the pods the lab's events name (kubelet forgets a deleted pod
  # at once but removes its log dir only in its next GC, a minute later).
  API_PORT=$(sed -n 's/^LAB_API_PORT=//p' "$STATE/lab.env" 2>/dev/null || true)
  uids=$({
    ls "$STATE/kubelet/pods" 2>/dev/null
    if [[ -n $API_PORT ]]; then
      api '/api/v1/events?fieldSelector=involvedObject.kind%3DPod' 2>/dev/null | jq -r '.items[].involvedObject.uid // empty' 2>/dev/null
    fi
  } | sort -u || true)
  ids=$(ls "$STATE/containerd/root/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null || true)
  if alive containerd; then kill_tasks; fi
  stop_component containerd
  kill_leftovers
  unmount_under "$STATE"
  for h in $(cgroup_mounts); do
    if [[ -d $h$CGROUP_ROOT ]]; then
      find "$h$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || log "warning: could not remove cgroup $h$CGROUP_ROOT"
    fi
  done
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then ip link del "$NODE_BRIDGE" || true; fi

  # iptables: the pods' CNI rules (ipMasq, portmap), this lab's guards; if
  # no other lab has a node: kube-proxy's and kubelet's KUBE-* chains and the
  # metadata guard.
  for ipt in $(ipt_all); do ipt_purge "$ipt" '^CNI-' "name: \\\"$CNI_NET\\\""; done
  lab_pod_cidr=$(sed -n 's/^LAB_POD_CIDR=//p' "$STATE/lab.env" 2>/dev/null || true)
  lab_service_cidr=$(sed -n 's/^LAB_SERVICE_CIDR=//p' "$STATE/lab.env" 2>/dev/null || true)
  if [[ -n $lab_pod_cidr && -n $lab_service_cidr ]]; then lab_guard del "$lab_pod_cidr" "$lab_service_cidr"; fi
  if [[ -z $others ]]; then
    if [[ -x $BIN_DIR/kube-proxy ]]; then
      "$BIN_DIR/kube-proxy" --cleanup >"$STATE/logs/kube-proxy-cleanup.log" 2>&1 || true
    fi
    for ipt in $(ipt_all); do ipt_purge "$ipt" '^KUBE-'; done
    metadata_guard del
  fi

  # files that kubelet, containerd and libcni keep in fixed places
  for u in $uids; do
    for l in /var/log/containers/*.log; do
      if [[ -L $l && $(readlink "$l") == */*_"$u"/* ]]; then rm -f "$l"; fi
    done
    rm -rf /var/log/pods/*_"$u"
  done
  rm -f /var/lib/cni/results/"$CNI_NET"-*
  for u in $ids; do rm -f /var/lib/cni/results/*-"$u"-*; done # cni-loopback-ID-lo
  # shellcheck disable=SC2086 # one path per word
  if [[ -n $sockets ]]; then rm -f $sockets; fi
  rmdir /var/log/containers /var/log/pods /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd 2>/dev/null || true
}

# ---------------------------------------------------------------- node: steps of `up`

# Checks before anything starts.
node_preflight() {
  node_names
  refuse_second_node
  NODE_NAME=${LAB_NODE_NAME:-lab-$NAME}
  [[ $NODE_NAME =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ && ${#NODE_NAME} -le 63 ]] || die "bad node name '$NODE_NAME' (LAB_NODE_NAME: a-z, 0-9, '-', '.')"
  ((${#STATE} <= 60)) || die "state dir $STATE is too long for the node's unix sockets (108 bytes); use a shorter INCEPTION_CACHE or --name"
  ensure_pkgs "${NODE_PKGS[@]}"
  check_node_images
}

# The images (build, then import once containerd runs) in the background.
start_images_job() {
  log "getting the node images in the background (log: $STATE/logs/images.log)"
  setsid "$LAB_SCRIPT" _images --name "$NAME" </dev/null >"$STATE/logs/images.log" 2>&1 3>&- 8>&- 9>&- &
  IMPORT_PID=$!
}

# This machine, before anything of the node runs: configs, no cloud
# metadata, pods stay here, forwarding, the cgroup root.
setup_node_host() {
  write_node_configs "$ADV"
  [[ -n $(ipt_v4) ]] || fail_with_log iptables "neither iptables-nft nor iptables-legacy works here"
  metadata_guard add || fail_with_log iptables "cannot add iptables rules"
  lab_guard add "$POD_CIDR" "$SERVICE_CIDR" || fail_with_log iptables "cannot add iptables rules"
  # pods <-> ClusterIPs <-> this machine; left on by `down`, as by any
  # Kubernetes node (something else may rely on it by then)
  echo 1 >/proc/sys/net/ipv4/ip_forward
  make_cgroup_root
}

start_containerd() {
  log "starting containerd (socket $CTR_SOCK)"
  launch containerd containerd --config "$STATE/containerd/config.toml"
}

start_kubelet_proxy() {
  log "starting kubelet (node $NODE_NAME, port $KUBELET_PORT) and kube-proxy"
  T_KUBELET=$(now)
  launch kubelet "$BIN_DIR/kubelet" --config="$STATE/kubelet.yaml" \
    --kubeconfig="$STATE/kubelet.kubeconfig" \
    --container-runtime=remote --container-runtime-endpoint="unix://$CTR_SOCK" --containerd="$CTR_SOCK" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" \
    --volume-plugin-dir="$STATE/kubelet/volume-plugins" \
    --hostname-override="$NODE_NAME" --node-ip="$ADV" --fail-swap-on=false
  launch kube-proxy "$BIN_DIR/kube-proxy" --kubeconfig="$STATE/kube-proxy.kubeconfig" \
    --proxy-mode=iptables --hostname-override="$NODE_NAME" --cluster-cidr="$POD_CIDR" \
    --bind-address="$ADV" --nodeport-addresses="$ADV/32" \
    --healthz-bind-address="127.0.0.1:$PROXY_HEALTHZ_PORT" --metrics-bind-address="127.0.0.1:$PROXY_METRICS_PORT" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --oom-score-adj=0
}

# The lab's default StorageClass `standard`: the node agent's local volumes
# (a directory per claim in $STATE/volumes), as in every inner cluster, so
# the node Pods of the lab's clusters keep their state on claims.
start_volumes() {
  local target=${CARGO_TARGET_DIR:-$CACHE/target} agent=${LAB_AGENT_BIN:-}
  if [[ -z $agent ]]; then
    agent=$target/node/inception-agent
    log "building the node agent for the lab's volumes (log: $STATE/logs/agent-build.log)"
    CARGO_TARGET_DIR=$target cargo build --locked --profile node -p inception-agent \
      --manifest-path "$REPO_DIR/Cargo.toml" >"$STATE/logs/agent-build.log" 2>&1 ||
      fail_with_log agent-build "cannot build the node agent (LAB_AGENT_BIN: one built already)"
  fi
  mkdir -p "$STATE/volumes"
  launch inception-agent "$agent" volumes --kubeconfig "$STATE/kubeconfig" \
    --node-name "$NODE_NAME" --dir "$STATE/volumes"
  wait_until "the default StorageClass" inception-agent api /apis/storage.k8s.io/v1/storageclasses/standard
  log "StorageClass standard: volumes in $STATE/volumes"
}

# Registered, podCIDR -> CNI config, images imported, kube-proxy, Ready.
wait_node() {
  local cidr archives images
  wait_until "a podCIDR for node $NODE_NAME" kubelet node_cidr
  cidr=$(node_cidr)
  log "node $NODE_NAME registered, podCIDR $cidr: writing the CNI config (bridge $NODE_BRIDGE)"
  write_cni_conf "$cidr"
  if kill -0 "$IMPORT_PID" 2>/dev/null; then log "waiting for the node images (log: $STATE/logs/images.log)"; fi
  if ! wait "$IMPORT_PID"; then
    IMPORT_PID=
    fail_with_log images "getting or importing the node images failed"
  fi
  IMPORT_PID=
  log "$(tail -n1 "$STATE/logs/images.log" | sed 's/^lab: //')"
  mapfile -t archives <"$STATE/images.list"
  echo "LAB_IMAGES_DIR=$(dirname "${archives[0]}")" >>"$STATE/lab.env"
  # the list first, then grep: `ctr ... | grep -q` under pipefail fails
  # when grep exits at the first match and ctr dies of SIGPIPE
  images=$(ctr_ -n k8s.io images ls -q) || fail_with_log containerd "cannot list the images of containerd"
  grep -qx "$SANDBOX_IMAGE" <<<"$images" ||
    fail_with_log images "the sandbox image $SANDBOX_IMAGE is not in the imported archives (${archives[*]}); no Pod can start without it"
  grep -qx "$NODE_IMAGE" <<<"$images" ||
    log "warning: $NODE_IMAGE is not in the imported archives"
  wait_until "kube-proxy" kube-proxy curl -sf --max-time 5 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
  wait_until "node $NODE_NAME Ready" kubelet node_ready
  # shellcheck disable=SC2034 # read by fail_with_log (procs.sh)
  FAIL_HINT=
  log "node $NODE_NAME Ready $(($(now) - T_KUBELET))s after kubelet start"
}
