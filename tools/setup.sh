#!/usr/bin/env bash
# npm run setup: installs what the tests need besides npm ci, on Debian 12 as root. Idempotent: what is present
# is kept, so a rerun takes seconds. It prints what it installs; on another OS it says what to install instead.
# .ci/run calls it; the README's test command is `npm run setup && npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /etc/debian_version ] || [ "$(id -u)" != 0 ]; then
  cat <<'HELP'
npm run setup installs with apt-get and go as root on Debian. Elsewhere, install by hand:
  - Prometheus (promtool and the server), openssl, Chromium, tmux, kubectl
  - Docker's engine with iptables/nftables and util-linux (nsenter, unshare), for the containers environment
  - Go, then: GOBIN=/usr/local/bin go install go.k6.io/k6@v1.4.2
  - kube-apiserver and etcd: bash tools/kube-apiserver/build.sh
HELP
  exit 1
fi
command -v go >/dev/null || { echo "setup: Go is needed (k6 and kube-apiserver are built from Go modules): apt-get install golang-go, or https://go.dev/dl"; exit 1; }

# Debian packages: Prometheus (promtool for the alert tests, the server for chaos run --env k8s's tests),
# openssl for the mTLS tests, Chromium for the dashboard's browser tests (driven by playwright-core; no browser
# download), tmux (a real terminal for the live progress test), and for the containers environment Docker's
# engine with iptables/nftables (the agent's kernel driver) and nsenter/unshare.
missing=()
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v iptables >/dev/null || missing+=(iptables)
command -v nft >/dev/null || missing+=(nftables)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v tmux >/dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# A Docker engine for the containers environment: started here (vfs storage works on any filesystem) unless
# one answers already. No registry is used: the images are built locally from the host's node.
if ! docker info >/dev/null 2>&1; then
  echo "== starting dockerd (vfs)"
  mkdir -p /var/log
  nohup dockerd --storage-driver=vfs >/var/log/nova-ci-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 /var/log/nova-ci-dockerd.log; exit 1; }
fi
docker version --format 'docker engine {{.Server.Version}}'

# kustomize for the k8s tests: kubectl's built-in one when present, else the real binary from the Go proxy.
if ! command -v kubectl >/dev/null && ! command -v kustomize >/dev/null; then
  echo "== go install kustomize"
  GOBIN=/usr/local/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0
fi

# k6, the real binary, built from source with the machine's Go toolchain (Go's build cache makes reruns fast).
K6_VERSION=v1.4.2
if ! command -v k6 >/dev/null || ! k6 version | grep -q "k6 ${K6_VERSION} "; then
  echo "== go install go.k6.io/k6@${K6_VERSION}"
  GOBIN=/usr/local/bin go install "go.k6.io/k6@${K6_VERSION}"
fi
k6 version

# A real kube-apiserver and etcd for the k8s tests, built from Go modules (pinned in tools/kube-apiserver/go.mod;
# ~8 min cold, seconds when Go's caches or the installed binaries are current).
echo "== kube-apiserver and etcd (tools/kube-apiserver/build.sh)"
NICE="nice -n 10" bash tools/kube-apiserver/build.sh

echo "== setup done: npm ci, then npm test"
