# Sourced by scripts/test, scripts/demo and scripts/bench: install what is
# missing on a Debian 12 machine and build synergyfs.  Not meant to be run.

# Debian packages the build, the tests and the demo need.
SYNERGYFS_PACKAGES="meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3
libcurl4-openssl-dev libcjson-dev python3 python3-pytest openssl curl util-linux
valgrind procps libasan8 libubsan1 libtsan2 libsystemd-dev prometheus-node-exporter
groff-base man-db"

# ensure_packages [extra package...]: apt-get install whatever is not installed yet.
ensure_packages() {
	local missing="" p
	for p in $SYNERGYFS_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "synergyfs: missing packages:$missing; run as root or install them" >&2
		return 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# ensure_fuse: the kernel side of FUSE must be there.
ensure_fuse() {
	[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
	if [ ! -e /dev/fuse ]; then
		echo "synergyfs: /dev/fuse is missing and the fuse module could not be loaded" >&2
		return 1
	fi
}

# build DIR [meson option...]: configure (once) and build with warnings as errors.
# A folder configured with other options (e.g. -Db_sanitize=...) is reconfigured.
build() {
	local dir=$1 opts
	shift
	opts="-Dwerror=true $*"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" $opts >/dev/null || return 1
	elif [ "$(cat "$dir/.synergyfs-options" 2>/dev/null)" != "$opts" ]; then
		meson configure "$dir" $opts >/dev/null || return 1
	fi
	echo "$opts" >"$dir/.synergyfs-options"
	ninja -C "$dir" >/dev/null || ninja -C "$dir"
}
