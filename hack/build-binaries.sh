#!/usr/bin/env bash
# Builds the pinned Kubernetes components the tests and the demo run as local processes:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, Argo's workflow-controller,
# Tekton Pipelines' controller and resolvers, Rancher's local-path-provisioner and the External Secrets
# Operator -- from Go modules, with the local Go toolchain (no Docker, no downloads of binaries).
#
# Each tool has a wrapper module with a committed go.mod/go.sum under hack/tools/<tool>. Binaries go to a
# cache outside the repo: ${CHOREO_CACHE:-~/.cache/choreo-controller}/<versions>/bin. A per-tool stamp (hash of
# the files of its wrapper module) makes the script idempotent: a second run builds nothing. Assets the
# clusters need (Argo, External Secrets and Tekton CRDs, Tekton's config and RBAC, kwok's stages) are copied
# from the same module downloads.
#
# Usage: hack/build-binaries.sh            build what is missing, print progress
#        hack/build-binaries.sh --print    print the bin directory and exit (no build)
# First cold build on 2 cores: see README ("First build"); the script prints elapsed time per tool.
set -euo pipefail

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$HACK/versions.env"

CACHE=${CHOREO_CACHE:-$HOME/.cache/choreo-controller}
KEY="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_argo-${ARGO_VERSION}"
ROOT="$CACHE/$KEY"
BIN="$ROOT/bin"
ASSETS="$ROOT/assets"

if [[ "${1:-}" == "--print" ]]; then
  echo "$BIN"
  exit 0
fi

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
command -v go >/dev/null || { echo "build-binaries: Go toolchain not found (need go >= 1.25 on PATH)" >&2; exit 1; }
mkdir -p "$BIN" "$ASSETS"

START=$(date +%s)
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
log() { printf '[build-binaries %s] %s\n' "$(elapsed "$START")" "$*"; }

# Every file of the wrapper module, in path order (for a module of only go.mod + go.sum: the same hash as before
# Tekton's wrapper brought Go sources of its own).
stamp_of() { (cd "$HACK/tools/$1" && find . -type f | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16; }

# Runs a long command while printing a heartbeat every 30 s, so CI logs show progress.
with_heartbeat() {
  local what=$1; shift
  local t0; t0=$(date +%s)
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do sleep 1; kill -0 "$pid" 2>/dev/null || break; done
    kill -0 "$pid" 2>/dev/null && log "  ... still $what ($(elapsed "$t0"))"
  done
  wait "$pid"
}

up_to_date() { [[ -f "$BIN/.stamp-$1" && "$(cat "$BIN/.stamp-$1")" == "$(stamp_of "$1")" ]]; }

# build <tool> <ldflags> <binary:package>...   in hack/tools/<tool>, or in the directory $PREPARE prints
build() {
  local tool=$1 ldflags=$2; shift 2
  local missing=0 spec
  for spec in "$@"; do [[ -x "$BIN/${spec%%:*}" ]] || missing=1; done
  if [[ $missing == 0 ]] && up_to_date "$tool"; then
    log "$tool: up to date (cached in $BIN)"
    return
  fi
  local t0; t0=$(date +%s)
  log "$tool: building ${*%%:*} ..."
  local dir="$HACK/tools/$tool"
  [[ -z "${PREPARE:-}" ]] || dir=$("$PREPARE")
  local tmp; tmp=$(mktemp -d "$ROOT/.build-$tool.XXXX")
  (
    cd "$dir"
    for spec in "$@"; do
      with_heartbeat "building ${spec%%:*}" go build -ldflags "$ldflags" -o "$tmp/${spec%%:*}" "${spec#*:}"
    done
  )
  for spec in "$@"; do mv -f "$tmp/${spec%%:*}" "$BIN/${spec%%:*}"; done
  rmdir "$tmp"
  stamp_of "$tool" > "$BIN/.stamp-$tool"
  log "$tool: done in $(elapsed "$t0")"
}

# 1. Downloads first, for the tools to build: network-bound, and a mirror gap should fail fast, before any
# compiling.
TOOLS=(kubernetes etcd kwok argo tekton local-path-provisioner eso)
for tool in "${TOOLS[@]}"; do
  up_to_date "$tool" && continue
  log "$tool: go mod download"
  (cd "$HACK/tools/$tool" && with_heartbeat "downloading $tool modules" go mod download)
done
module_dir() { (cd "$HACK/tools/$1" && go list -m -f '{{.Dir}}' "$2"); }

# 2. Builds, one module at a time (parallel builds on 2 cores only thrash).
K8S_MINOR=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
K8S_LD="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1"
K8S_LD="$K8S_LD -X k8s.io/component-base/version.gitMinor=$K8S_MINOR -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
build kubernetes "$K8S_LD" \
  kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler:k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl:k8s.io/kubernetes/cmd/kubectl
build etcd "-s -w" etcd:go.etcd.io/etcd/server/v3
build kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" kwok:sigs.k8s.io/kwok/cmd/kwok
build argo "-s -w -X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION" \
  workflow-controller:github.com/argoproj/argo-workflows/v3/cmd/workflow-controller
# Upstream's mains with the probe servers moved to a loopback port (see hack/tools/tekton/controller/main.go).
build tekton "-s -w" tekton-controller:./controller tekton-resolvers:./resolvers
build local-path-provisioner "-s -w -X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION" \
  local-path-provisioner:github.com/rancher/local-path-provisioner

# ESO registers every provider (and generator) it ships through one import list per kind; each provider pulls
# in its cloud SDK (2,016 packages in all). The build plane needs only the Kubernetes provider, so ESO is built
# from a copy of its verified module source in which those two lists are replaced by hack/tools/eso/_slim
# (only the Kubernetes provider, no generators): 893 packages, the controllers unchanged.
slim_eso_source() {
  local src="$ROOT/src/eso-$ESO_VERSION" ESO_DIR
  ESO_DIR=$(module_dir eso github.com/external-secrets/external-secrets)
  rm -rf "$src" && mkdir -p "$src/external-secrets" "$src/wrapper"
  cp -r "$ESO_DIR"/{go.mod,go.sum,LICENSE,main.go,apis,cmd,pkg} "$src/external-secrets/"
  chmod -R u+w "$src"
  cp -r "$HACK/tools/eso/_slim/." "$src/external-secrets/"
  cp "$HACK/tools/eso/go.mod" "$HACK/tools/eso/go.sum" "$src/wrapper/"
  (cd "$src/wrapper" && go mod edit -replace "github.com/external-secrets/external-secrets=../external-secrets")
  echo "$src/wrapper"
}
PREPARE=slim_eso_source build eso "-s -w" external-secrets:github.com/external-secrets/external-secrets

# 3. Assets from the same module downloads (never hand-written copies), unless this script already made them
# from these versions. external-secrets/: the CRDs of the kinds ESO's enabled controllers watch (the
# GeneratorState reconciler cannot be turned off).
ASSETS_STAMP=$({ cat "${BASH_SOURCE[0]}" "$HACK/versions.env"; for t in "${TOOLS[@]}"; do stamp_of "$t"; done; } \
  | sha256sum | cut -c1-16)
if [[ "$(cat "$ASSETS/.stamp" 2>/dev/null)" != "$ASSETS_STAMP" ]]; then
  ESO_DIR=$(module_dir eso github.com/external-secrets/external-secrets)
  KWOK_DIR=$(module_dir kwok sigs.k8s.io/kwok)
  ARGO_DIR=$(module_dir argo github.com/argoproj/argo-workflows/v3)
  TEKTON_DIR=$(module_dir tekton github.com/tektoncd/pipeline)
  rm -rf "$ASSETS/argo-crds" "$ASSETS/external-secrets" && mkdir -p "$ASSETS/argo-crds" "$ASSETS/external-secrets"
  cp "$ARGO_DIR"/manifests/base/crds/minimal/argoproj.io_*.yaml "$ASSETS/argo-crds/"
  cp "$ESO_DIR"/config/crds/bases/external-secrets.io_{externalsecrets,secretstores,clustersecretstores}.yaml \
     "$ESO_DIR"/config/crds/bases/generators.external-secrets.io_generatorstates.yaml "$ASSETS/external-secrets/"
  # Tekton: namespaces, RBAC, ConfigMaps and CRDs of the release (not its Deployments, Services or webhooks);
  # the CRDs serve their storage version only, as JSON (hack/tools/tekton/crds says why).
  rm -rf "$ASSETS/tekton" "$ASSETS/tekton-resolvers" && mkdir -p "$ASSETS/tekton" "$ASSETS/tekton-resolvers"
  cp "$TEKTON_DIR"/config/100-namespace/100-namespace.yaml "$TEKTON_DIR"/config/20[01]-*.yaml \
     "$TEKTON_DIR"/config/config-*.yaml "$ASSETS/tekton/"
  (cd "$HACK/tools/tekton" && go run ./crds "$ASSETS/tekton" "$TEKTON_DIR"/config/300-crds/*.yaml)
  cp "$TEKTON_DIR"/config/resolvers/{100-namespace,20[01]-*,*-config,config-*}.yaml "$ASSETS/tekton-resolvers/"
  {
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-delete.yaml; do
      cat "$KWOK_DIR/kustomize/stage/$f"; echo "---"
    done
  } > "$ASSETS/kwok-stages.yaml"
  chmod -R u+w "$ASSETS"
  echo "$ASSETS_STAMP" > "$ASSETS/.stamp"
fi

log "all binaries ready in $BIN"
ls -la "$BIN" | sed 's/^/    /'
du -sh "$BIN" | sed 's/^/    total /'
