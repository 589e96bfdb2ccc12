#!/bin/sh
# Build MetalLB's controller and speaker from the Go module
# go.universe.tf/metallb (version pinned in bench/metallb/go.mod), for
# bench/k8s.py --compare only: no test and no part of scripts/install-deps
# needs them.
#
# MetalLB v0.16.2 requires github.com/metallb/frr-k8s v0.0.27, which the Go
# module proxy refuses (403).  v0.0.25 (served) lacks two API declarations
# that only the speaker's frr-k8s BGP code uses; the build copies v0.0.25
# out of the module cache, adds frrk8s_aspath.go (the missing type) and one
# field to its Advertise struct, and points go.mod's replace line at that
# copy.  The benchmark runs the speaker in layer 2 mode, where neither is
# used.
#
# Like tests/k8s/build.sh: everything lives in the cache
# (IRONLB_K8S_CACHE, default /var/cache/ironlb-k8s): gomodcache/, gocache/,
# src/metallb-<version>/ (the build directory) and bin/metallb-<version>/.
# A binary built from the same inputs and Go version is not built again,
# and then nothing touches the network.
#
# Usage: bench/metallb/build.sh            build what is missing, print the paths
#        bench/metallb/build.sh --check    build nothing; exit 1 unless both are built
# stdout: METALLB_CONTROLLER=/path and METALLB_SPEAKER=/path.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IRONLB_K8S_CACHE:-/var/cache/ironlb-k8s}
RECIPE=1   # bump when the recipe below changes: forces a rebuild
FRR_BASE=v0.0.25

check_only=0
case "${1:-}" in
--check) check_only=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

log() { echo "metallb/build.sh: $*" >&2; }
die() { echo "metallb/build.sh: ERROR: $*" >&2; exit 1; }

GO=${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || die "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go)"
export GOMODCACHE="$CACHE/gomodcache" GOCACHE="$CACHE/gocache"
export GOFLAGS="-buildvcs=false -mod=readonly" GOTOOLCHAIN=local CGO_ENABLED=0
unset GOOS GOARCH

ver=$(awk '($1 == "require" && $2 == "go.universe.tf/metallb") { print $3; exit } $1 == "go.universe.tf/metallb" { print $2; exit }' "$HERE/go.mod")
[ -n "$ver" ] || die "$HERE/go.mod does not require go.universe.tf/metallb"
out="$CACHE/bin/metallb-$ver"
stamp=$({ echo "recipe=$RECIPE frr=$FRR_BASE go=$("$GO" env GOVERSION)"
	cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/frrk8s_aspath.go"; } | sha256sum | cut -d' ' -f1)

built() { [ -x "$out/controller" ] && [ -x "$out/speaker" ] &&
	[ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; }

if ! built; then
	[ "$check_only" = 0 ] || { log "not built (run bench/metallb/build.sh)"; exit 1; }
	mkdir -p "$CACHE/src" "$out" || die "cannot create $CACHE/src or $out"
	exec 9>"$CACHE/.metallb-build.lock"
	flock 9 2>/dev/null || true
	src="$CACHE/src/metallb-$ver"
	rm -rf "$src"
	mkdir -p "$src"
	cp "$HERE/go.mod" "$HERE/go.sum" "$src/"
	log "fetching github.com/metallb/frr-k8s@$FRR_BASE"
	(cd "$src" && "$GO" mod download github.com/metallb/frr-k8s@$FRR_BASE) ||
		die "cannot fetch github.com/metallb/frr-k8s@$FRR_BASE (go error above)"
	cp -R "$GOMODCACHE/github.com/metallb/frr-k8s@$FRR_BASE" "$src/frr-k8s"
	chmod -R u+w "$src/frr-k8s"
	api="$src/frr-k8s/api/v1beta1"
	cp "$HERE/frrk8s_aspath.go" "$api/zz_ironlb_aspath.go"
	sed -i '/^\tPrefixesWithCommunity \[\]CommunityPrefixes/a\
	PrefixesWithAsPathPrepend []AsPathPrependPrefixes `json:"withAsPathPrepend,omitempty"`' \
		"$api/frrconfiguration_types.go"
	grep -q PrefixesWithAsPathPrepend "$api/frrconfiguration_types.go" ||
		die "frr-k8s $FRR_BASE: no PrefixesWithCommunity field in $api/frrconfiguration_types.go to add the field after"
	log "building MetalLB $ver controller and speaker (cold: several minutes) ..."
	t0=$(date +%s)
	(cd "$src" && nice -n 19 "$GO" build -p=1 -trimpath -ldflags "-s -w" -o "$out/" \
		go.universe.tf/metallb/controller go.universe.tf/metallb/speaker) ||
		die "go build of MetalLB $ver failed in $src: the go error is printed above"
	echo "$stamp" >"$out/stamp"
	log "built in $(($(date +%s) - t0))s -> $out"
fi
echo "METALLB_CONTROLLER=$out/controller"
echo "METALLB_SPEAKER=$out/speaker"
echo "METALLB_MODULE=$GOMODCACHE/go.universe.tf/metallb@$ver"
