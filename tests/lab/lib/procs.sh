#!/usr/bin/env bash
# tests/lab/lib/procs.sh: start, watch and stop the lab's processes (components
# in their own sessions, pid files, logs).
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

# Start a component in its own session, logs to logs/NAME.log, pid to pids/NAME.
# setsid execs in place (we are not a group leader), so $! is the component.
# fds 3, 8, 9 (our stdout, locks) are closed so `$(lab up)` and flock don't hang.
launch() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$STATE/logs/$name.log" 2>&1 3>&- 8>&- 9>&- &
  local pid=$! w
  echo "$pid" >"$STATE/pids/$name"
  LAUNCHED+=("$name")
  # Until setsid has exec'd it, the pid's command line is not the
  # component's yet and `alive` would take it for dead (up to 5 s).
  for ((w = 0; w < 100; w++)); do
    if alive "$name" || [[ ! -e /proc/$pid ]]; then break; fi
    sleep 0.05
  done
}
LAUNCHED=()

# wait_until WHAT BLAME CMD...: poll CMD until it succeeds; fail (showing a
# log) as soon as a launched component exits, or after LAB_TIMEOUT seconds.
wait_until() {
  local what=$1 blame=$2 deadline c
  shift 2
  deadline=$(($(now) + LAB_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    for c in "${LAUNCHED[@]}"; do
      alive "$c" || fail_with_log "$c" "$c exited during startup"
    done
    (($(now) <= deadline)) || fail_with_log "$blame" "$what not ready after ${LAB_TIMEOUT}s"
    sleep 0.5
  done
}

# Is pid file NAME's process alive and still our component (binary + state dir)?
alive() {
  local name=$1 pid cmd
  pid=$(cat "$STATE/pids/$name" 2>/dev/null) || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $(basename "${cmd%% *}") == "$name" && $cmd == *"$STATE/"* ]]
}

# A failed `up` shows the culprit's log, stops what it started and keeps
# the state dir (logs) for a look; the next `up` or `down` removes it.
FAIL_HINT=
fail_with_log() { # component message
  if [[ -d $STATE ]]; then touch "$STATE/.failed"; fi
  log "---- last lines of $STATE/logs/$1.log ----"
  tail -n 30 "$STATE/logs/$1.log" 2>/dev/null || true
  if [[ -n $FAIL_HINT ]]; then log "$FAIL_HINT"; fi
  stop_procs
  die "$2 (logs: $STATE/logs/)"
}

# Stop recorded component NAME: TERM, then KILL after 10 s.
STOPPED=()
stop_component() {
  local c=$1 w pid
  alive "$c" || return 0
  pid=$(cat "$STATE/pids/$c")
  log "stopping $c (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((w = 0; w < 50; w++)); do alive "$c" || break; sleep 0.2; done
  if alive "$c"; then
    log "$c still runs 10 s after TERM: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  STOPPED+=("$pid")
}

# Stop this lab's processes: the node first (if any), then the control plane
# in reverse start order (the apiserver hangs on TERM when etcd is gone).
stop_procs() {
  local i w pid
  STOPPED=()
  stop_node
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_component "${COMPONENTS[i]}"; done
  # Give init up to 3 s to reap them, so no zombie shows up in `pgrep`.
  for ((w = 0; w < 15; w++)); do
    local left=0
    for pid in "${STOPPED[@]}"; do if [[ -e /proc/$pid ]]; then left=1; fi; done
    ((left)) || break
    sleep 0.2
  done
}

stop_lab() {
  stop_procs
  rm -rf "$STATE"
}
