#!/usr/bin/env bash
# A rootless Podman 5 service (Debian 13's) on a Debian 12 machine, for the
# tests and CI, without touching the host's Podman 4.3.1. Run as root:
#
#   .ci/podman5.sh start [USER]   (re)start it; prints the socket and versions
#   .ci/podman5.sh stop           end it and everything it started
#
# A trixie root filesystem with podman (cached in $SI_PODMAN5_ROOT, reused
# by later runs) holds a user with the uid, gid and subuid ranges of the
# host user USER (default sip5, made by images/host-setup.sh). The service
# runs as that user in a private mount namespace that pivot_root made the
# trixie root (chroot does not do: the kernel refuses a chrooted process a
# user namespace), and its socket is on a host directory USER owns: the
# host user reaches it with CONTAINER_HOST=unix://$dir/sock/podman.sock.
#
# Inside, a root supervisor plays the machine: whenever the service ends
# it "reboots" (kills what is left of it, fresh tmpfs on /run, /tmp and
# /dev/shm, so a fresh runtime directory and no locks) and starts the
# service again. A test restarts the service the way a reboot would by
# killing the pid in sock/service.pid; writing "other" (or "host") to
# sock/subids first makes that boot map the user's containers onto other
# subordinate ids (or the host's again), as an edited /etc/subuid would.
# Everything the service starts stays in one pids cgroup, which stop empties.
set -euo pipefail
cmd=${1:?usage: podman5.sh start [USER] | stop}
user=${2:-sip5}
root=${SI_PODMAN5_ROOT:-/var/cache/safe-install/podman5-trixie}
dir=/run/safe-install-podman5
cg=/sys/fs/cgroup/pids/safe-install-podman5
[ -d /sys/fs/cgroup/pids ] || cg=/sys/fs/cgroup/safe-install-podman5 # cgroup v2 only
here=$(cd "$(dirname "$0")" && pwd)

stop() {
	if [ -d "$cg" ]; then
		for _ in $(seq 100); do
			pids=$(cat "$cg/cgroup.procs")
			[ -z "$pids" ] && break
			# shellcheck disable=SC2086 # one word per pid
			kill -9 $pids 2>/dev/null || true
			sleep 0.1
		done
		rmdir "$cg"
	fi
	rm -f "$dir/sock/podman.sock" "$dir/sock/service.pid" "$dir/sock/subids"
}

mirror() {
	local m
	m=$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\) *$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	[ -n "$m" ] || m=$(sed -n 's/^deb \(http[^ ]*debian\/*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
	echo "${m:-http://deb.debian.org/debian}"
}

case $cmd in
stop)
	stop
	exit 0
	;;
start) ;;
*)
	echo "usage: podman5.sh start [USER] | stop" >&2
	exit 2
	;;
esac

if ! [ -x "$root/usr/bin/podman" ]; then
	command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null
	echo "podman5: building the trixie root in $root" >&2
	rm -rf "$root.new"
	mkdir -p "$(dirname "$root")"
	start=$(date +%s)
	mmdebstrap --quiet --variant=apt \
		--include=podman,uidmap,runc,crun,netavark,aardvark-dns,passt,mount,ca-certificates \
		trixie "$root.new" "$(mirror)"
	mkdir -p "$root.new/oldroot" "$root.new/sock"
	mv "$root.new" "$root"
	echo "podman5: trixie root built in $(($(date +%s) - start)) s" >&2
fi

bash "$here/../images/host-setup.sh" "$user" 2>/dev/null
uid=$(id -u "$user")
gid=$(id -g "$user")
home=/home/$user
# The same user inside, with the host's subordinate ranges: files the
# service writes then have the same owners seen from either side.
if ! chroot "$root" getent passwd "$user" >/dev/null; then
	chroot "$root" groupadd -g "$gid" "$user"
	chroot "$root" useradd -u "$uid" -g "$gid" -d "$home" -m -s /bin/sh "$user"
fi
# And other ranges, for a boot that a test asks to come up as after an
# edited /etc/subuid (see sock/subids below).
for f in subuid subgid; do
	grep "^$user:" "/etc/$f" >"$root/etc/$f.host"
	echo "$user:$((1000000000 + (uid % 1000) * 65536)):65536" >"$root/etc/$f.other"
done
conf=$root$home/.config/containers
install -d -o "$uid" -g "$gid" "$root$home/.config" "$conf"
cat >"$conf/containers.conf" <<CONF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
printf '[storage]\ndriver = "overlay"\n' >"$conf/storage.conf"
chown "$uid:$gid" "$conf/containers.conf" "$conf/storage.conf"

stop
install -d -m 0755 "$dir"
install -d -m 0700 -o "$uid" -g "$gid" "$dir/sock"
mkdir "$cg"

# The supervisor, run inside the new root as root.
cat >"$root/sbin/podman5-supervise" <<'SUP'
#!/bin/sh
uid=$1 gid=$2 user=$3 cg=$4
while :; do
	umount -l /run /tmp 2>/dev/null
	mount --make-rshared / # what Podman expects of a booted machine
	mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
	umount -l /dev/shm 2>/dev/null
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm # Podman's locks
	install -d -m 0700 -o "$uid" -g "$gid" "/run/user/$uid"
	ids=host
	[ "$(cat /sock/subids 2>/dev/null)" = other ] && ids=other
	cp /etc/subuid.$ids /etc/subuid
	cp /etc/subgid.$ids /etc/subgid
	setpriv --reuid="$uid" --regid="$gid" --init-groups \
		env -i PATH=/usr/bin:/bin HOME="/home/$user" USER="$user" XDG_RUNTIME_DIR="/run/user/$uid" \
		PODMAN_IGNORE_CGROUPSV1_WARNING=1 \
		podman system service --time=0 unix:///sock/podman.sock &
	echo $! >/sock/service.pid
	wait $!
	echo "podman5: the service ended ($?); restarting it with a fresh /run" >&2
	# What a reboot ends: the rootless pause process, conmons, containers.
	# Those run as the user or its subordinate ids; the supervisor and its
	# helpers as root.
	for _ in $(seq 100); do
		left=""
		while read -r pid; do
			u=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
			if [ -n "$u" ] && [ "$u" != 0 ]; then
				kill -9 "$pid" 2>/dev/null
				left=1
			fi
		done <"$cg/cgroup.procs"
		[ -z "$left" ] && break
		sleep 0.1
	done
done
SUP
chmod 0755 "$root/sbin/podman5-supervise"

# shellcheck disable=SC2016 # expanded by the inner shell
setsid sh -c 'echo $$ >"$1/cgroup.procs" && exec unshare -m --propagation private sh -c "$2" sh "$3" "$4" "$5" "$6" "$7" "$1"' sh \
	"$cg" '
		root=$1 dir=$2
		mount --bind "$root" "$root"
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		mount --rbind /sys "$root/sys"
		mount --bind "$dir/sock" "$root/sock"
		cd "$root"
		pivot_root . oldroot
		umount -l /oldroot
		exec /sbin/podman5-supervise "$3" "$4" "$5" "$6"' \
	"$root" "$dir" "$uid" "$gid" "$user" </dev/null >>"$dir/service.log" 2>&1 &

sock=$dir/sock/podman.sock
for _ in $(seq 150); do
	runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="/home/$user" XDG_RUNTIME_DIR="/run/user/$uid" podman --remote --url "unix://$sock" version >/dev/null 2>&1 && break
	sleep 0.2
done
if ! runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="/home/$user" XDG_RUNTIME_DIR="/run/user/$uid" podman --remote --url "unix://$sock" version; then
	echo "podman5: the service did not answer on $sock; $dir/service.log:" >&2
	tail -n 20 "$dir/service.log" >&2
	exit 1
fi
echo "podman5: CONTAINER_HOST=unix://$sock (as $user)"
