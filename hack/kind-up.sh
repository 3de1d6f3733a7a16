#!/usr/bin/env bash
# The quickstart on two kind clusters, for machines with Docker: `hack/kind-up.sh` (and `hack/kind-up.sh down`).
#
# UNTESTED on this project's development machines, which have no Docker engine. It passes `bash -n` and
# ShellCheck (tests/unit/test_scripts.py), and every step mirrors what `make demo` does with local processes
# (which is tested): treat it as a recipe and report what breaks.
#
#   1. kind clusters `choreo-cp` (control plane) and `choreo-bp` (build plane), on kind's docker network;
#   2. build plane: Argo Workflows (the release's install.yaml) and External Secrets (Helm chart), at the
#      versions in hack/versions.env, and the demo's ClusterWorkflowTemplates;
#   3. the image choreo-controller:0.1.0 built from the Dockerfile and loaded into both clusters;
#   4. certificates: hack/gen-certs.py (gateway, agent) and openssl (the controller's client certificate for
#      the gateway's internal API), stored as the Secrets the Deployments mount;
#   5. control plane: `kubectl apply -k manifests/` (CRDs, RBAC, controller, gateway with its internal API
#      for the controller); build plane: manifests/build-plane, the agent dialling the gateway's NodePort
#      on the control-plane node;
#   6. the demo (manifests/samples/demo): a BuildPlane carrying the agents' CA, the Workflow, a WorkflowRun
#      followed with `choreo-controller runs watch` until it succeeds.
#
# Needs docker, kind, kubectl, helm, openssl and this repository installed (`make install`).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=hack/versions.env
source "$REPO/hack/versions.env"
CP=choreo-cp BP=choreo-bp
IMAGE=choreo-controller:0.1.0
PKI=${PKI:-$REPO/.kind/pki}
CLI="$REPO/.venv/bin/choreo-controller"
PY="$REPO/.venv/bin/python"
kcp() { kubectl --context "kind-$CP" "$@"; }
kbp() { kubectl --context "kind-$BP" "$@"; }
log() { printf '\n==> [%3ds] %s\n' "$SECONDS" "$*"; }
secret() { # secret <kubectl fn> <namespace> <name> <args...>: create or update
  local k=$1 ns=$2 name=$3; shift 3
  "$k" -n "$ns" create secret generic "$name" "$@" --dry-run=client -o yaml | "$k" apply -f -
}

if [[ "${1:-}" == "down" ]]; then
  kind delete cluster --name "$CP"
  kind delete cluster --name "$BP"
  exit 0
fi
for tool in docker kind kubectl helm openssl; do
  command -v "$tool" >/dev/null || { echo "kind-up: $tool not found" >&2; exit 1; }
done
[[ -x "$CLI" ]] || { echo "kind-up: run 'make install' first" >&2; exit 1; }

log "1/6 kind clusters $CP and $BP"
for name in "$CP" "$BP"; do
  kind get clusters | grep -qx "$name" || kind create cluster --name "$name" --wait 120s
done

log "2/6 build plane: Argo Workflows $ARGO_VERSION, External Secrets $ESO_VERSION, demo templates"
kbp create namespace argo --dry-run=client -o yaml | kbp apply -f -
kbp apply --server-side -n argo \
  -f "https://github.com/argoproj/argo-workflows/releases/download/$ARGO_VERSION/install.yaml"
helm repo add external-secrets https://charts.external-secrets.io --force-update >/dev/null
helm upgrade --install external-secrets external-secrets/external-secrets --kube-context "kind-$BP" \
  -n external-secrets --create-namespace --version "${ESO_VERSION#v}" --wait
kbp apply -f "$REPO/manifests/samples/demo/cluster-workflow-templates.yaml"

log "3/6 image $IMAGE"
docker build -t "$IMAGE" "$REPO"
kind load docker-image "$IMAGE" --name "$CP"
kind load docker-image "$IMAGE" --name "$BP"

log "4/6 certificates in $PKI"
CP_NODE_IP=$(docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$CP-control-plane")
INTERNAL_DNS=choreo-relay-gateway-internal.openchoreo-control-plane.svc
mkdir -p "$PKI"
"$PY" "$REPO/hack/gen-certs.py" --out "$PKI" --plane demo --reuse \
  --gateway-dns "$INTERNAL_DNS" --gateway-dns localhost --gateway-ip "$CP_NODE_IP" >/dev/null
if [[ ! -f "$PKI/controllers-ca.crt" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 120 -subj /CN=choreo-controllers-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$PKI/controllers-ca.key" -out "$PKI/controllers-ca.crt" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=choreo-controller \
  -keyout "$PKI/controller.key" -out "$PKI/controller.csr" 2>/dev/null
openssl x509 -req -in "$PKI/controller.csr" -CA "$PKI/controllers-ca.crt" -CAkey "$PKI/controllers-ca.key" \
  -CAcreateserial -days 30 -out "$PKI/controller.crt" \
  -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n') 2>/dev/null
kcp create namespace openchoreo-control-plane --dry-run=client -o yaml | kcp apply -f -
kbp create namespace openchoreo-build-plane --dry-run=client -o yaml | kbp apply -f -
secret kcp openchoreo-control-plane relay-gateway-tls --from-file=tls.crt="$PKI/gateway.crt" --from-file=tls.key="$PKI/gateway.key"
secret kcp openchoreo-control-plane relay-gateway-ca --from-file=ca.crt="$PKI/gateway-ca.crt"
secret kcp openchoreo-control-plane relay-internal-client-ca --from-file=ca.crt="$PKI/controllers-ca.crt"
secret kcp openchoreo-control-plane choreo-controller-relay-client \
  --from-file=tls.crt="$PKI/controller.crt" --from-file=tls.key="$PKI/controller.key"
secret kbp openchoreo-build-plane relay-agent-tls --from-file=tls.crt="$PKI/agent-demo.crt" --from-file=tls.key="$PKI/agent-demo.key"
secret kbp openchoreo-build-plane relay-gateway-ca --from-file=ca.crt="$PKI/gateway-ca.crt"

log "5/6 control plane: CRDs, RBAC, controller, gateway; build plane: the agent"
kcp apply --server-side --force-conflicts -k "$REPO/manifests"
AGENT_PORT=$(kcp -n openchoreo-control-plane get svc choreo-relay-gateway -o jsonpath='{.spec.ports[0].nodePort}')
kubectl kustomize "$REPO/manifests/build-plane" \
  | sed "s#wss://gateway.openchoreo.example.com:8443/v1/agent#wss://$CP_NODE_IP:$AGENT_PORT/v1/agent#" \
  | kbp apply --server-side --force-conflicts -f -
kcp -n openchoreo-control-plane rollout status deploy/choreo-relay-gateway --timeout=300s
kcp -n openchoreo-control-plane rollout status deploy/choreo-controller --timeout=300s
kbp -n openchoreo-build-plane rollout status deploy/choreo-relay-agent --timeout=300s

log "6/6 the demo run"
SAMPLES="$REPO/manifests/samples/demo"
kcp apply -f "$SAMPLES/namespace.yaml" -f "$SAMPLES/workflow.yaml"
"$PY" - "$SAMPLES/buildplane.yaml" "$PKI/agent-ca.crt" <<'EOF' | kcp apply -f -
import json, sys, yaml
plane = yaml.safe_load(open(sys.argv[1]))
plane["spec"]["clusterAgent"]["clientCA"]["value"] = open(sys.argv[2]).read()
print(json.dumps(plane))
EOF
kcp apply -f "$SAMPLES/workflowrun.yaml"
"$CLI" runs watch demo-build-1 -n demo --context "kind-$CP" --timeout 900
cat <<EOF

Done in ${SECONDS}s. Contexts: kind-$CP (control plane), kind-$BP (build plane).
  $CLI runs list -n demo --context kind-$CP
  kubectl --context kind-$CP -n openchoreo-control-plane port-forward svc/choreo-controller-metrics 8080  # /metrics
Remove everything: hack/kind-up.sh down
EOF
