//go:build e2e

package main

import (
	"encoding/json"
	"testing"
)

// Invariant 5, from inside a real scripts container: every call the profile
// denies fails with the errno the profile promises, the calls Podman's
// default profile would allow (nested user namespaces, the personality
// query, odd socket families) fail too, and a Python C extension still
// builds under it.
func TestE2ESeccompProfile(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-40/41/42/45/46", "namespaces, mount, ptrace, devices, posture", "seccomp, caps 0, no-new-privs, non-root"})
	w := newWorld(t)
	w.project("seccomp-probe")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	var probe struct {
		Arch     string
		Calls    map[string]int
		Special  map[string]int
		Commands map[string]any
		Status   map[string]string
		Cext     string
	}
	must(t, json.Unmarshal([]byte(w.read("node_modules/seccomp-probe/probe.json")), &probe))
	if probe.Arch != "x86_64" {
		t.Fatalf("the probe knows x86-64 syscall numbers only; ran on %s", probe.Arch)
	}
	const eperm, enosys = 1, 38
	if len(probe.Calls) < 40 {
		t.Fatalf("the probe made only %d calls", len(probe.Calls))
	}
	for name, errno := range probe.Calls {
		want := eperm
		if name == "clone3" || name[:min(8, len(name))] == "io_uring" {
			want = enosys
		}
		if errno != want {
			t.Errorf("%s: errno %d, want %d", name, errno, want)
		}
	}
	for name, want := range map[string]int{
		"personality_query": eperm, "socket_vsock": eperm, "socket_packet": eperm,
		"socket_netlink_audit": eperm, "clone_newuser": eperm,
		"socket_inet": 0, "socket_netlink_route": 0, "personality_linux": 0,
	} {
		if got, ok := probe.Special[name]; !ok || got != want {
			t.Errorf("%s: errno %d (reported: %v), want %d", name, got, ok, want)
		}
	}
	for name, rc := range probe.Commands {
		if rc == float64(0) {
			t.Errorf("%s succeeded inside the sandbox", name)
		}
	}
	for k, want := range map[string]string{"CapEff": "0000000000000000", "CapBnd": "0000000000000000",
		"CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
		if probe.Status[k] != want {
			t.Errorf("%s = %q, want %q", k, probe.Status[k], want)
		}
	}
	if probe.Status["Uid"] == "" || probe.Status["Uid"][0] == '0' {
		t.Errorf("scripts run as uid %q, want non-root", probe.Status["Uid"])
	}
	if probe.Cext != "hello from a C extension" {
		t.Errorf("C extension under the profile: %s", probe.Cext)
	}
}
