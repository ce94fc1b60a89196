#!/usr/bin/env bash
# tests/lab/lib/pkgs.sh: Debian packages (apt-get install, deb-src entries for
# `apt-get source kubernetes`).
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

# Install the Debian packages that are not installed yet (no-op otherwise).
ensure_pkgs() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Make `apt-get source kubernetes` possible: copy the active `deb` entries
# of Debian's own archives as `deb-src` entries (same mirror, suite and
# options such as Signed-By) into kubectl-inception-src.{list,sources}.
# shellcheck disable=SC2016 # awk programs and apt format strings
ensure_deb_src() {
  has_src() { apt-cache showsrc kubernetes 2>/dev/null | grep '^Package: kubernetes$' >/dev/null; }
  has_src && return 0
  local uris d=/etc/apt/sources.list.d f
  # URIs of the archives whose Release says Origin: Debian (any file format).
  uris=$(apt-get indextargets --format '$(ORIGIN) $(REPO_URI)' | awk '$1 == "Debian" { sub(/\/$/, "", $2); print $2 }' | sort -u | tr '\n' ' ')
  [[ -n $uris ]] || die "apt knows no Debian archive; cannot add deb-src (run apt-get update?)"
  # one-line format: "deb [opts] URI SUITE COMPONENTS" -> "deb-src ..."
  local awk_list='BEGIN { n = split(uris, u, " "); for (i = 1; i <= n; i++) ok[u[i]] = 1 }
    $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
      x = $i; sub(/\/$/, "", x); if (ok[x]) { sub(/^[ \t]*deb/, "deb-src"); print } }'
  # deb822 format: each stanza with Types: deb -> same stanza with Types: deb-src
  local awk_822='BEGIN { RS = ""; n = split(uris, u, " "); for (i = 1; i <= n; i++) ok[u[i]] = 1 }
    { types = ""; out = ""; keep = 0; on = 1; m = split($0, L, "\n")
      for (i = 1; i <= m; i++) { l = L[i]; if (l ~ /^#/) continue
        if (tolower(l) ~ /^types:/) { types = l; continue }
        if (tolower(l) ~ /^enabled:[ \t]*no/) on = 0
        if (tolower(l) ~ /^uris:/) { k = split(substr(l, 6), v, /[ \t]+/)
          for (j = 1; j <= k; j++) { x = v[j]; sub(/\/$/, "", x); if (ok[x]) keep = 1 } }
        out = out l "\n" }
      if (on && keep && types ~ /[ \t:]deb([ \t]|$)/ && types !~ /deb-src/) printf "Types: deb-src\n%s\n", out }'
  local list822="" listline=""
  for f in /etc/apt/sources.list "$d"/*.list; do
    if [[ -f $f && $f != "$d/kubectl-inception-src.list" ]]; then listline+=$(awk -v uris="$uris" "$awk_list" "$f")$'\n'; fi
  done
  for f in "$d"/*.sources; do
    if [[ -f $f && $f != "$d/kubectl-inception-src.sources" ]]; then list822+=$(awk -v uris="$uris" "$awk_822" "$f")$'\n\n'; fi
  done
  [[ -n ${listline//$'\n'/} || -n ${list822//$'\n'/} ]] || die "found no Debian 'deb' entry to copy as deb-src"
  log "adding deb-src entries for Debian's archives to $d/kubectl-inception-src.*"
  if [[ -n ${listline//$'\n'/} ]]; then printf '%s' "$listline" | as_root tee "$d/kubectl-inception-src.list" >/dev/null; fi
  if [[ -n ${list822//$'\n'/} ]]; then printf '%s' "$list822" | as_root tee "$d/kubectl-inception-src.sources" >/dev/null; fi
  as_root apt-get update -q
  has_src || die "apt-cache showsrc kubernetes finds nothing even with deb-src ($d/kubectl-inception-src.*)"
}
