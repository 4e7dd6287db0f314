#!/usr/bin/env bash
# Full run on kind: create the cluster, build and load the images, install Chaos Mesh (pinned, Helm), deploy
# the application and an overlay's experiments, and wait for them.
# Prerequisites: docker (running), kind >= 0.24, kubectl >= 1.28, helm >= 3.14, and network access to the
# Chaos Mesh chart and images. Our CI machines have none of kind's node images, so CI tests --dry-run only.
#
# Usage: k8s/kind/run.sh [--dry-run] [--overlay staging|production] [--base-image IMAGE]
set -euo pipefail
cd "$(dirname "$0")/../.."

CHAOS_MESH_VERSION=2.6.7
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
run kubectl apply -k k8s/base
run kubectl rollout status deployment/user-service deployment/auth-service deployment/messaging-service --timeout 180s
run kubectl apply -k "k8s/overlays/$OVERLAY/chaos-mesh"
if [ "$OVERLAY" = staging ]; then
  run kubectl wait --for=condition=Accomplished workflow/incident-simulation --timeout 10m
fi
run kubectl get networkchaos,podchaos,stresschaos,iochaos,httpchaos,workflows,schedules -A
