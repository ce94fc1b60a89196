#!/usr/bin/env bash
# tests/lab/lib/build.sh: build Kubernetes from Debian's source package into
# $BIN_DIR (once; cached).
# Sourced by tests/lab/lab, which defines the settings and log/die/now.

bins_present() {
  local b
  for b in "${BINS[@]}"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

# Build the binaries into $BIN_DIR unless they are there. Serialised by flock.
build() {
  bins_present && return 0
  mkdir -p "$K8S_DIR" "$LOCK_DIR"
  exec 9>"$LOCK_DIR/build-$K8S_VERSION.lock"
  if ! flock -n 9; then
    log "another lab is building Kubernetes $K8S_VERSION; waiting for it"
    flock 9
  fi
  if bins_present; then exec 9>&-; return 0; fi

  local t0 src tree
  t0=$(now)
  ensure_pkgs "${BUILD_PKGS[@]}"
  ensure_deb_src

  # Source: `apt-get source` (downloads and applies Debian's patches).
  src=$K8S_DIR/src
  if [[ ! -e $src/.extracted ]]; then
    log "fetching Debian's kubernetes source package into $src"
    rm -rf "$src"
    mkdir -p "$src"
    (cd "$src" && apt-get source -q kubernetes)
    touch "$src/.extracted"
  fi
  tree=$(find "$src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | sed -n 1p)
  [[ -n $tree && -d $tree/cmd/kube-apiserver ]] || die "no kubernetes source tree under $src"
  grep -q '1\.20\.2' <<<"$(basename "$tree")" || log "warning: source tree $(basename "$tree") may not be 1.20.2"

  # vendored reflect2 v1.0.1 breaks with Go >= 1.18 (kubectl/kubeadm panic):
  # use Debian's reflect2 1.0.2 sources instead.
  [[ -f $REFLECT2_SRC/reflect2.go ]] || die "missing $REFLECT2_SRC (golang-github-modern-go-reflect2-dev)"
  rsync -a --delete --exclude go.mod --exclude go.sum --exclude LICENSE --exclude '*_test.go' \
    "$REFLECT2_SRC/" "$tree/vendor/github.com/modern-go/reflect2/"

  # Like debian/rules: a GOPATH whose src/k8s.io/kubernetes is the tree,
  # CGO off, then the tree's own `make WHAT=...`. (hack/lib/init.sh itself
  # sets GO111MODULE=off and its own GOPATH/GOCACHE under _output/.)
  local gopath=$K8S_DIR/gopath what="" b
  mkdir -p "$gopath/src/k8s.io"
  ln -sfn "$tree" "$gopath/src/k8s.io/kubernetes"
  for b in "${BINS[@]}"; do what+="cmd/$b "; done
  log "building ${BINS[*]} (takes several minutes; log: $K8S_DIR/build.log)"
  if ! (
    cd "$gopath/src/k8s.io/kubernetes"
    unset GOFLAGS GOBIN GO111MODULE
    export GOPATH=$gopath PATH=/usr/lib/go/bin:$PATH CGO_ENABLED=0
    export KUBE_GIT_VERSION=$K8S_VERSION KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean
    make WHAT="${what% }"
  ) >"$K8S_DIR/build.log" 2>&1; then
    tail -n 40 "$K8S_DIR/build.log"
    die "build failed; full log: $K8S_DIR/build.log"
  fi

  # Install atomically: copy to a temp dir, then rename.
  rm -rf "$BIN_DIR.tmp"
  mkdir -p "$BIN_DIR.tmp"
  for b in "${BINS[@]}"; do cp "$tree/_output/bin/$b" "$BIN_DIR.tmp/$b"; done
  "$BIN_DIR.tmp/kubeadm" version -o short | grep -x "$K8S_VERSION" >/dev/null || die "built kubeadm does not report $K8S_VERSION"
  "$BIN_DIR.tmp/kubectl" version --client >/dev/null || die "built kubectl does not run"
  rm -rf "$BIN_DIR"
  mv "$BIN_DIR.tmp" "$BIN_DIR"
  log "built Kubernetes $K8S_VERSION in $(($(now) - t0))s into $BIN_DIR"
  exec 9>&-
}
