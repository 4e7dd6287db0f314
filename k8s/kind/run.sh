#!/usr/bin/env bash
# Full run on kind: create the cluster, build and load the images, install Chaos Mesh and Prometheus (pinned,
# Helm), deploy the application, judge the overlay's chaos experiments with `chaos run --env k8s` (Chaos Mesh
# injects, Prometheus measures, our load drives the services through port-forwards), then run its Workflow.
# Prerequisites: docker (running), kind >= 0.24, kubectl >= 1.28, helm >= 3.14, Node 20 with `npm ci` done, and
# network access to the charts and images. Our CI machines have none of kind's node images, so CI tests
# --dry-run only; `chaos run --env k8s` itself is tested against a real kube-apiserver (tools/chaos/test).
#
# Usage: k8s/kind/run.sh [--dry-run] [--overlay staging|production] [--base-image IMAGE]
set -euo pipefail
cd "$(dirname "$0")/../.."

CHAOS_MESH_VERSION=2.6.7
PROMETHEUS_STACK_VERSION=65.1.1
OVERLAY=staging
BASE_IMAGE=node:20-bookworm-slim
DRY_RUN=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=true ;;
    --overlay) OVERLAY="$2"; shift ;;
    --base-image) BASE_IMAGE="$2"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$OVERLAY" in staging|production) ;; *) echo "run.sh: --overlay must be staging or production, got $OVERLAY" >&2; exit 2 ;; esac

run() {
  echo "+ $*"
  if [ "$DRY_RUN" = false ]; then "$@"; fi
}

# Port-forwards run in the background for the verdicts; each is ended by its PID when the script exits.
FORWARDS=()
forward() {
  echo "+ kubectl port-forward $* &"
  if [ "$DRY_RUN" = false ]; then
    kubectl port-forward "$@" >/dev/null &
    FORWARDS+=("$!")
  fi
}
stop_forwards() {
  for pid in "${FORWARDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_forwards EXIT

if [ "$DRY_RUN" = false ]; then
  for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required (see the header of this script)" >&2; exit 1; }
  done
fi

run kind create cluster --config k8s/kind/cluster.yaml --wait 120s
for svc in user auth messaging; do
  run docker build --build-arg "BASE=$BASE_IMAGE" -f "services/$svc/Dockerfile" -t "nova/$svc-service:dev" .
  run kind load docker-image "nova/$svc-service:dev" --name nova-chaos
done
run docker build --build-arg "BASE=$BASE_IMAGE" -f chaos-agent/Dockerfile -t nova/chaos-agent:dev .
run kind load docker-image nova/chaos-agent:dev --name nova-chaos
run helm repo add chaos-mesh https://charts.chaos-mesh.org
run helm upgrade --install chaos-mesh chaos-mesh/chaos-mesh --namespace chaos-mesh --create-namespace \
  --version "$CHAOS_MESH_VERSION" -f "k8s/overlays/$OVERLAY/chaos-mesh/helm-values.yaml" --wait --timeout 5m
# Before the application: k8s/base ships a ServiceMonitor and a PrometheusRule, the operator's kinds.
run helm repo add prometheus-community https://prometheus-community.github.io/helm-charts
run helm upgrade --install prometheus prometheus-community/kube-prometheus-stack --namespace monitoring \
  --create-namespace --version "$PROMETHEUS_STACK_VERSION" --set grafana.enabled=false \
  --set prometheus.prometheusSpec.scrapeInterval=5s --wait --timeout 10m
# The agent's tokens and TLS certificate, generated for this cluster (never written in a manifest).
run bash k8s/scripts/agent-secrets.sh
run kubectl apply -k k8s/base
run kubectl rollout status deployment/user-service deployment/auth-service deployment/messaging-service --timeout 180s
forward -n monitoring svc/prometheus-kube-prometheus-prometheus 19090:9090
forward svc/user-service 13001:3001
forward svc/auth-service 13002:3002
forward svc/messaging-service 13003:3003
# The overlay's chaos objects, one at a time, judged: verdicts, reports/ (JSON, JUnit, HTML) as for local runs.
if [ "$DRY_RUN" = false ]; then sleep 5; fi
echo "+ kubectl kustomize k8s/overlays/$OVERLAY/chaos-mesh > reports/kind-$OVERLAY-experiments.yaml"
if [ "$DRY_RUN" = false ]; then
  mkdir -p reports && kubectl kustomize "k8s/overlays/$OVERLAY/chaos-mesh" > "reports/kind-$OVERLAY-experiments.yaml"
fi
run npx nx chaos -- run --env k8s --prometheus http://127.0.0.1:19090 \
  --load-targets user=http://127.0.0.1:13001,auth=http://127.0.0.1:13002,messaging=http://127.0.0.1:13003 \
  "reports/kind-$OVERLAY-experiments.yaml"
run kubectl apply -k "k8s/overlays/$OVERLAY/chaos-mesh"
if [ "$OVERLAY" = staging ]; then
  run kubectl wait --for=condition=Accomplished workflow/incident-simulation --timeout 10m
fi
run kubectl get networkchaos,podchaos,stresschaos,iochaos,httpchaos,workflows,schedules -A
