#!/usr/bin/env bash
# Prepares a Debian/Ubuntu machine for rootless Podman as used by safe-install.
# Run as root: sudo images/host-setup.sh [USER]
# USER defaults to $SUDO_USER, or to a new unprivileged user "safeinstall" when
# run by root directly (as CI does). Every step is idempotent.
set -euo pipefail

user="${1:-${SUDO_USER:-safeinstall}}"
if [ "$(id -u)" != 0 ]; then
	echo "host-setup: run as root (sudo $0 $user)" >&2
	exit 1
fi
if [ "$user" = root ]; then
	echo "host-setup: safe-install runs rootless; name an unprivileged user" >&2
	exit 1
fi

echo "host-setup: installing Podman and its rootless prerequisites" >&2
export DEBIAN_FRONTEND=noninteractive
# Python's venv and pip are for `safe-install pip` (the host's pip installs
# the wheels); setuptools and wheel as wheel files serve the pip tests' index.
packages="podman uidmap slirp4netns runc netavark aardvark-dns mmdebstrap ca-certificates make
	python3-venv python3-pip python3-setuptools-whl python3-wheel-whl"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -q
	# shellcheck disable=SC2086 # one word per package
	apt-get install -y -q $missing
fi

if ! id "$user" >/dev/null 2>&1; then
	echo "host-setup: creating user $user" >&2
	useradd -m -s /bin/bash "$user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)

# Rootless Podman maps container users onto these ranges.
for f in /etc/subuid /etc/subgid; do
	grep -q "^$user:" "$f" 2>/dev/null || echo "$user:$((100000 + (uid % 1000) * 65536)):65536" >>"$f"
done

# Without systemd-logind nobody creates the runtime directory.
install -d -m 0700 -o "$uid" -g "$gid" "/run/user/$uid"

# slirp4netns (the fetch phase's network) opens /dev/net/tun as the user.
if [ -e /dev/net/tun ]; then chmod 0666 /dev/net/tun; fi
# Silences Podman's "/ is not a shared mount" warning; harmless if it fails.
mount --make-rshared / 2>/dev/null || true

# crun cannot run rootless on hybrid cgroups; runc can. Native overlay is far
# faster than the vfs driver rootless Podman would otherwise pick.
conf="$home/.config/containers"
install -d -o "$uid" -g "$gid" "$home/.config" "$conf"
if [ ! -f "$conf/containers.conf" ]; then
	cat >"$conf/containers.conf" <<CONF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi
if [ ! -f "$conf/storage.conf" ]; then
	cat >"$conf/storage.conf" <<CONF
[storage]
driver = "overlay"
CONF
	# A store made with another driver must be reset before overlay is used.
	if [ -d "$home/.local/share/containers/storage/vfs" ]; then
		runuser -u "$user" -- env XDG_RUNTIME_DIR="/run/user/$uid" HOME="$home" podman system reset -f >/dev/null 2>&1 || true
	fi
fi
chown "$uid:$gid" "$conf/containers.conf" "$conf/storage.conf"

echo "host-setup: ready: run safe-install as $user (XDG_RUNTIME_DIR=/run/user/$uid)" >&2
