#!/bin/bash
# Provisions the remote-engine end-to-end test (issue 8), as root: a second
# unprivileged user (siremote) with its own rootless Podman service, and an
# sshd on 127.0.0.1 (a free port, its own host key) that lets only the test
# user's key in, only as siremote. The test reads what it needs from
# $SI_REMOTE_DIR/remote.env (default /etc/safe-install-test). Safe to run
# again: it stops what an earlier run started.
#
# remote-engine.sh CLIENT REMOTE SOCKET lets the key in as REMOTE instead,
# to a service already listening on SOCKET (CI's Podman 5: .ci/podman5.sh).
set -euo pipefail
client=${1:?usage: remote-engine.sh CLIENT_USER [REMOTE_USER SOCKET]}
remote=${2:-siremote}
given_sock=${3:-}
dir=${SI_REMOTE_DIR:-/etc/safe-install-test}
here=$(cd "$(dirname "$0")" && pwd)

if ! [ -x /usr/sbin/sshd ]; then
	# Keep the package from starting a system sshd on port 22.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi
[ -n "$given_sock" ] || bash "$here/../images/host-setup.sh" "$remote" 2>/dev/null
# useradd leaves the password "!" (locked): sshd without PAM then refuses
# even a key. "*" means no password, not locked.
usermod -p '*' "$remote"
uid=$(id -u "$remote")
home=$(getent passwd "$remote" | cut -d: -f6)

if [ -f "$dir/sshd.pid" ]; then kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true; fi
# The service runs in a process group of its own (setsid below): rootless
# Podman re-executes itself in a user namespace, and that process kept the
# socket when only the first was ended.
if [ -f "$dir/podman.pid" ]; then
	kill -- "-$(cat "$dir/podman.pid")" 2>/dev/null || kill "$(cat "$dir/podman.pid")" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 -- "-$(cat "$dir/podman.pid")" 2>/dev/null || break; sleep 0.1; done
fi
[ -z "$given_sock" ] || rm -f "$dir/podman.pid"
install -d -m 0755 "$dir" "$dir/authorized_keys"
rm -f "$dir"/host_ed25519*
ssh-keygen -q -t ed25519 -N '' -C safe-install-test-host -f "$dir/host_ed25519"
install -d -m 0700 -o "$client" "$dir/client"
rm -f "$dir"/client/id_ed25519*
runuser -u "$client" -- ssh-keygen -q -t ed25519 -N '' -C safe-install-test-client -f "$dir/client/id_ed25519"
install -m 0644 "$dir/client/id_ed25519.pub" "$dir/authorized_keys/$remote"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys/%u
AllowUsers $remote
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
PidFile $dir/sshd.pid
CONF
install -d -m 0755 /run/sshd
/usr/sbin/sshd -f "$dir/sshd_config"

sock=${given_sock:-/run/user/$uid/podman/podman.sock}
if [ -z "$given_sock" ]; then
	setsid runuser -u "$remote" -- env -i HOME="$home" USER="$remote" XDG_RUNTIME_DIR="/run/user/$uid" PATH=/usr/bin:/bin \
		sh -c "mkdir -p /run/user/$uid/podman && exec podman system service --time=0 unix://$sock" >/dev/null 2>&1 &
	echo $! >"$dir/podman.pid"
fi
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.1
done
[ -S "$sock" ] || { echo "remote-engine: no podman service for $remote on $sock" >&2; exit 1; }

cat >"$dir/remote.env" <<ENV
SI_REMOTE_URL=ssh://$remote@127.0.0.1:$port$sock
SI_REMOTE_KEY=$dir/client/id_ed25519
SI_REMOTE_HOSTKEY=[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")
ENV
echo "remote-engine: sshd on 127.0.0.1:$port, Podman of $remote at $sock" >&2
