#!/usr/bin/env bash
# Builds kube-apiserver v1.34.4 and etcd v3.6.4 from Go modules (the Go module proxy only; no binary
# downloads) into $BIN (default /usr/local/bin), unless both are there at these versions already; and
# kubectl v1.34.4 when the machine has no kubectl (~30 s more).
# Cold: ~8 min on 2 cores, ~2.2 GB of Go build cache, ~620 MB of modules; with Go's caches warm, seconds.
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.34.4` is refused (k8s.io/kubernetes has replace
# directives), hence this wrapper module: its go.mod replaces every staging module with its v0.34.4 tag.
# Recipe from ../shared/reference/kube-apiserver (tried on our machines).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-/usr/local/bin}
V=v1.34.4
cd "$HERE"
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$V -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean"
done
if [ -x "$BIN/kube-apiserver" ] && "$BIN/kube-apiserver" --version 2>/dev/null | grep "Kubernetes $V$" >/dev/null &&
  [ -x "$BIN/etcd" ] && "$BIN/etcd" --version 2>/dev/null | grep "etcd Version: 3.6.4" >/dev/null; then
  echo "kube-apiserver $V and etcd 3.6.4 already in $BIN"
else
  ${NICE:-} go build -trimpath -ldflags "$LD" -o "$BIN/kube-apiserver" .
  ${NICE:-} go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" ./cmd/etcd
fi
"$BIN/kube-apiserver" --version
"$BIN/etcd" --version | sed -n 1p
if ! command -v kubectl >/dev/null; then
  ${NICE:-} go build -trimpath -ldflags "$LD" -o "$BIN/kubectl" ./cmd/kubectl
fi
kubectl version --client | sed -n 1p
