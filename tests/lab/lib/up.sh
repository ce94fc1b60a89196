#!/usr/bin/env bash
# tests/lab/lib/up.sh: `lab up`, as a list of steps (their functions are in
# the part they belong to).
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

cmd_up() {
  local t0
  t0=$(now)
  mkdir -p "$LABS_DIR" "$LOCK_DIR"
  exec 8>"$LOCK_DIR/lab-$NAME.lock"
  flock 8 # one up/down per lab name at a time
  if healthy; then
    already_up
    return 0
  fi
  if [[ -d $STATE ]]; then
    log "lab '$NAME' exists but is not healthy; recreating it"
    stop_lab
  fi

  ensure_pkgs "${UP_PKGS[@]}"
  build
  if ((WITH_NODE)); then node_preflight; fi
  choose_addresses
  reserve_ports
  if ((WITH_NODE)); then start_images_job; fi
  make_pki
  write_kubeconfigs
  if ((WITH_NODE)); then
    setup_node_host
    start_containerd
  fi
  start_etcd_apiserver
  if ((WITH_NODE)); then wait_until "containerd" containerd ctr_ready; fi
  wait_apiserver
  start_controllers
  if ((WITH_NODE)); then start_kubelet_proxy; fi
  wait_controllers
  if ((WITH_NODE)); then
    wait_node
    start_volumes
  fi

  touch "$STATE/.up"
  log "lab '$NAME' is up in $(($(now) - t0))s; state in $STATE"
  print_export
}

# NAME runs and is healthy: print its export line again (unless a node is
# asked for and it has none).
already_up() {
  if ((WITH_NODE)) && ! has_node; then
    die "lab '$NAME' runs without a node; 'tests/lab/lab down --name $NAME' first to start it --with-node (or use another --name)"
  fi
  log "lab '$NAME' is already running"
  print_export
}
