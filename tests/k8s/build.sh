#!/bin/sh
# Build the real Kubernetes control plane that ironlb's Kubernetes-mode tests
# run against, from Go modules:
#   kube-apiserver, kubectl  k8s.io/kubernetes  (tests/k8s/go.mod)
#   etcd                     go.etcd.io/etcd/server/v3 (tests/k8s/etcd/go.mod)
# and the tools the chart and monitoring tests run:
#   helm                     helm.sh/helm/v4           (tests/k8s/helm/go.mod)
#   promtool                 github.com/prometheus/prometheus (tests/k8s/promtool/go.mod)
# and the node agents the kubelet test runs deploy/ironlb.yaml with:
#   kubelet, kube-scheduler, kube-controller-manager, kube-proxy
#                            k8s.io/kubernetes  (tests/k8s/go.mod, as the plane)
#
# Everything goes to a cache outside the repository (IRONLB_K8S_CACHE, default
# /var/cache/ironlb-k8s): gomodcache/, gocache/ and bin/<module>-<version>/.
# A binary already built from the same go.mod/go.sum, recipe and Go version is
# not built again, so running this twice is cheap.  Symlinks to the binaries
# are put in tests/k8s/bin/ (git-ignored).
#
# Usage: tests/k8s/build.sh [WHAT]            build what is missing, print the paths
#        tests/k8s/build.sh --check [WHAT]    build nothing; print the paths and exit 0
#                                             if all are built and current, else exit 1
#        tests/k8s/build.sh --download        fetch every Go module only (what
#                                             scripts/install-deps does)
# WHAT: plane (the default: kube-apiserver, kubectl, etcd), tools (helm,
# promtool), node (kubelet, kube-scheduler, kube-controller-manager,
# kube-proxy) or all.
# stdout: KUBE_APISERVER=/path, KUBECTL=/path, ETCD=/path for the plane,
# HELM=/path, PROMTOOL=/path for the tools, KUBELET=/path,
# KUBE_SCHEDULER=/path, KUBE_CONTROLLER_MANAGER=/path, KUBE_PROXY=/path for
# the node (one per line).
# Progress and go's own errors go to stderr; a failed build exits non-zero.
#
# Builds run under `nice -n 19` (scripts/test starts them in the background
# while its other stages run) with as many packages at a time as there are
# cores.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IRONLB_K8S_CACHE:-/var/cache/ironlb-k8s}
# Bump when the build recipe (flags below) changes: forces a rebuild.
RECIPE=1

check_only=0
download_only=0
case "${1:-}" in
--check) check_only=1; shift ;;
--download) download_only=1; shift ;;
esac
what=${1:-plane}
do_plane=0 do_tools=0 do_node=0
case "$what" in
plane) do_plane=1 ;;
tools) do_tools=1 ;;
node) do_node=1 ;;
all) do_plane=1 do_tools=1 do_node=1 ;;
*) echo "usage: $0 [--check|--download] [plane|tools|node|all]" >&2; exit 2 ;;
esac

log() { echo "k8s/build.sh: $*" >&2; }
die() { echo "k8s/build.sh: ERROR: $*" >&2; exit 1; }

GO=${GO:-}
if [ -z "$GO" ]; then
	GO=$(command -v go 2>/dev/null || true)
	[ -n "$GO" ] || GO=/usr/local/go/bin/go
fi
[ -x "$GO" ] || die "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go); Go >= 1.26 is needed"

export GOMODCACHE="$CACHE/gomodcache"
export GOCACHE="$CACHE/gocache"
export GOFLAGS="-buildvcs=false -p=$(nproc 2>/dev/null || echo 2) -mod=readonly"
export GOTOOLCHAIN=local # never fetch another Go; an older one fails loudly
export CGO_ENABLED=0
unset GOOS GOARCH

mkdir -p "$GOMODCACHE" "$GOCACHE" "$CACHE/bin" || die "cannot create cache dir $CACHE (set IRONLB_K8S_CACHE)"

# One build at a time (pytest and install-deps may both call this).
if [ "$check_only" = 0 ] && command -v flock >/dev/null 2>&1; then
	exec 9>"$CACHE/.build.lock"
	flock 9
fi

goversion=$("$GO" env GOVERSION) || die "'$GO env GOVERSION' failed"

NODE_PKGS="k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler
k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-proxy"

if [ "$download_only" = 1 ]; then
	for dir in "$HERE" "$HERE/etcd" "$HERE/helm" "$HERE/promtool"; do
		log "downloading the Go modules of $dir"
		(cd "$dir" && GOFLAGS=-mod=mod "$GO" mod download) ||
			die "go mod download failed in $dir (see above)"
	done
	# The node's commands import modules (cadvisor, netlink, ...) that
	# go.mod does not list (they come from k8s.io/kubernetes's own go.mod,
	# with their sums in go.sum): listing their packages fetches them.
	log "downloading the Go modules of the node's commands"
	(cd "$HERE" && "$GO" list -deps $NODE_PKGS >/dev/null) ||
		die "go list of the node's commands failed in $HERE (see above)"
	log "Go modules present in $GOMODCACHE"
	exit 0
fi

# Version of module $2 required in $1/go.mod (read from the file: no network).
modversion() {
	v=$(awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }
		$1 == "require" && $2 == m { print $3; exit }' "$1/go.mod")
	[ -n "$v" ] || die "$1/go.mod does not require $2"
	echo "$v"
}

stampof() { # module dir
	{
		echo "recipe=$RECIPE go=$goversion"
		cat "$1/go.mod" "$1/go.sum"
		for f in "$1"/*.go; do [ ! -f "$f" ] || cat "$f"; done
	} | sha256sum | cut -d' ' -f1
}

# build NAME MODULE_DIR PACKAGE OUT LDFLAGS
build() {
	name=$1 dir=$2 pkg=$3 out=$4 ldflags=$5
	stamp=$(stampof "$dir")
	if [ -x "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "$name: up to date ($out)"
		return 0
	fi
	if [ "$check_only" = 1 ]; then
		log "$name: not built (run tests/k8s/build.sh $what)"
		missing=1
		return 0
	fi
	mkdir -p "$(dirname "$out")"
	log "$name: building $pkg with $goversion (cold: many minutes) ..."
	t0=$(date +%s)
	rm -f "$out.tmp"
	if ! (cd "$dir" && nice -n 19 "$GO" build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"); then
		rm -f "$out.tmp"
		die "$name: 'go build $pkg' failed in $dir ($goversion; GOMODCACHE=$GOMODCACHE): the go error is printed above"
	fi
	mv -f "$out.tmp" "$out"
	echo "$stamp" >"$out.stamp"
	log "$name: built in $(($(date +%s) - t0))s -> $out"
}

missing=0

if [ "$do_plane" = 1 ] || [ "$do_node" = 1 ]; then
# --- version stamp of the k8s.io/kubernetes binaries ------------------------
kver=$(modversion "$HERE" k8s.io/kubernetes)
# Same version stamping as upstream's hack/lib/version.sh, from the module's
# tag, commit and release time (so `kubectl version` and /version say v1.X.Y).
kinfo=
if [ "$check_only" = 0 ]; then
	kinfo=$(cd "$HERE" && "$GO" mod download -json "k8s.io/kubernetes@$kver") ||
		die "cannot fetch k8s.io/kubernetes@$kver (go error above)"
fi
kcommit=$(printf '%s\n' "$kinfo" | sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -n1)
ktime=$(cat "$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$kver.info" 2>/dev/null |
	sed -n 's/.*"Time":"\([^"]*\)".*/\1/p')
kmajor=$(echo "$kver" | sed 's/^v\([0-9]*\)\..*/\1/')
kminor=$(echo "$kver" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')
kld="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	kld="$kld -X $p.gitVersion=$kver -X $p.gitMajor=$kmajor -X $p.gitMinor=$kminor -X $p.gitTreeState=clean"
	[ -z "$kcommit" ] || kld="$kld -X $p.gitCommit=$kcommit"
	[ -z "$ktime" ] || kld="$kld -X $p.buildDate=$ktime"
done
kdir="$CACHE/bin/kubernetes-$kver"
fi

if [ "$do_plane" = 1 ]; then
# --- kube-apiserver and kubectl -------------------------------------------
build kube-apiserver "$HERE" k8s.io/kubernetes/cmd/kube-apiserver "$kdir/kube-apiserver" "$kld"
build kubectl "$HERE" k8s.io/kubernetes/cmd/kubectl "$kdir/kubectl" "$kld"

# --- etcd -----------------------------------------------------------------
ever=$(modversion "$HERE/etcd" go.etcd.io/etcd/server/v3)
edir="$CACHE/bin/etcd-$ever"
build etcd "$HERE/etcd" . "$edir/etcd" "-s -w"
fi

if [ "$do_node" = 1 ]; then
# --- the node: kubelet and the components that act on a Deployment and a
# DaemonSet (scheduler, controller manager) and on Services (kube-proxy).
# Same module and version stamp as the plane; they share most packages with
# kube-apiserver, so the Go cache makes each one cheaper than the first.
build kubelet "$HERE" k8s.io/kubernetes/cmd/kubelet "$kdir/kubelet" "$kld"
build kube-scheduler "$HERE" k8s.io/kubernetes/cmd/kube-scheduler "$kdir/kube-scheduler" "$kld"
build kube-controller-manager "$HERE" k8s.io/kubernetes/cmd/kube-controller-manager \
	"$kdir/kube-controller-manager" "$kld"
build kube-proxy "$HERE" k8s.io/kubernetes/cmd/kube-proxy "$kdir/kube-proxy" "$kld"
fi

if [ "$do_tools" = 1 ]; then
# --- helm and promtool ----------------------------------------------------
# Stamped with the module's version as upstream's Makefiles stamp their
# releases, so `helm version` and `promtool --version` name it.
hver=$(modversion "$HERE/helm" helm.sh/helm/v4)
hdir="$CACHE/bin/helm-$hver"
build helm "$HERE/helm" helm.sh/helm/v4/cmd/helm "$hdir/helm" \
	"-s -w -X helm.sh/helm/v4/internal/version.version=$hver"
pver=$(modversion "$HERE/promtool" github.com/prometheus/prometheus)
pdir="$CACHE/bin/prometheus-$pver"
build promtool "$HERE/promtool" github.com/prometheus/prometheus/cmd/promtool \
	"$pdir/promtool" "-s -w -X github.com/prometheus/common/version.Version=$pver"
fi

if [ "$missing" = 1 ]; then
	exit 1
fi

# Convenience links (tests/k8s/bin/ is git-ignored); best effort.
link() { ln -sfn "$1" "$HERE/bin/$(basename "$1")" 2>/dev/null || true; }
if mkdir -p "$HERE/bin" 2>/dev/null; then
	if [ "$do_plane" = 1 ]; then
		link "$kdir/kube-apiserver"; link "$kdir/kubectl"; link "$edir/etcd"
	fi
	if [ "$do_tools" = 1 ]; then
		link "$hdir/helm"; link "$pdir/promtool"
	fi
	if [ "$do_node" = 1 ]; then
		link "$kdir/kubelet"; link "$kdir/kube-scheduler"
		link "$kdir/kube-controller-manager"; link "$kdir/kube-proxy"
	fi
fi

if [ "$do_plane" = 1 ]; then
	echo "KUBE_APISERVER=$kdir/kube-apiserver"
	echo "KUBECTL=$kdir/kubectl"
	echo "ETCD=$edir/etcd"
fi
if [ "$do_tools" = 1 ]; then
	echo "HELM=$hdir/helm"
	echo "PROMTOOL=$pdir/promtool"
fi
if [ "$do_node" = 1 ]; then
	echo "KUBELET=$kdir/kubelet"
	echo "KUBE_SCHEDULER=$kdir/kube-scheduler"
	echo "KUBE_CONTROLLER_MANAGER=$kdir/kube-controller-manager"
	echo "KUBE_PROXY=$kdir/kube-proxy"
fi
