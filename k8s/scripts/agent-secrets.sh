#!/usr/bin/env bash
# The chaos agent's credentials for one cluster, generated here and never written in a manifest:
#   chaos-agent-controller  token      the controllers' token (ListTargets, ApplyFault, RecoverFault, ...)
#   chaos-agent-services    token      the services' token (Register only)
#   chaos-agent-tls         tls.crt, tls.key, ca.crt
#                                      the agent's serving certificate, for the name `chaos-agent` (services
#                                      dial their node's IP and check that name), and the CA that signed it
# Each Secret is created only when missing, so a rerun keeps the running agent's credentials; --rotate
# replaces them (restart the agent and the services afterwards). Needs kubectl (KUBECONFIG) and openssl.
#
# Usage: k8s/scripts/agent-secrets.sh [--namespace NS] [--rotate]
set -euo pipefail

NAMESPACE=default
ROTATE=false
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) NAMESPACE="$2"; shift ;;
    --rotate) ROTATE=true ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "agent-secrets.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for tool in kubectl openssl; do
  command -v "$tool" >/dev/null || { echo "agent-secrets.sh: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Applies a Secret from kubectl's own rendering (no YAML written by hand), unless it exists and we keep it.
apply_secret() {
  local name="$1"; shift
  if [ "$ROTATE" = false ] && kubectl get secret "$name" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "secret/$name kept (--rotate replaces it)"
    return
  fi
  kubectl create secret "$@" "$name" --namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
}

token() { openssl rand -hex 32; }
apply_secret chaos-agent-controller generic --from-literal="token=$(token)"
apply_secret chaos-agent-services generic --from-literal="token=$(token)"

openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=nova-chaos-agent-ca \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=chaos-agent -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:chaos-agent\nextendedKeyUsage=serverAuth\n' > "$work/san.cnf"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 365 \
  -extfile "$work/san.cnf" -out "$work/tls.crt" 2>/dev/null
apply_secret chaos-agent-tls generic --from-file=tls.crt="$work/tls.crt" --from-file=tls.key="$work/tls.key" \
  --from-file=ca.crt="$work/ca.crt"
