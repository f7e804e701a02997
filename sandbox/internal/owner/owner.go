// Package owner names the process that made something a run leaves
// outside itself (a container, a volume, a staging directory in the
// project) so that a later run can tell whether that process is gone
// (invariant 13: nothing outlives a run, even a killed one).
package owner

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Client identifies a process across pid reuse and reboots.
type Client struct {
	Host, Boot string
	PID        int
	Start      string // /proc/PID/stat field 22: start time since boot
}

func (c Client) String() string { return fmt.Sprintf("%s/%s/%d/%s", c.Host, c.Boot, c.PID, c.Start) }

// Parse reads what String wrote.
func Parse(s string) (Client, bool) {
	f := strings.Split(s, "/")
	if len(f) != 4 {
		return Client{}, false
	}
	pid, err := strconv.Atoi(f[2])
	return Client{Host: f[0], Boot: f[1], PID: pid, Start: f[3]}, err == nil
}

// This is the running process.
func This() Client {
	host, _ := os.Hostname()
	return Client{Host: host, Boot: bootID(), PID: os.Getpid(), Start: ProcessStart(os.Getpid())}
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// ProcessStart reads a process's start time (clock ticks since boot), or
// "" when there is no such process.
func ProcessStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name is in parentheses and may hold spaces: count
	// fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 overall
}

// Gone says why c's process has certainly ended, as seen by me: the
// machine rebooted, or no process runs with its pid and start time. It is
// "" when c may still run: me itself, a live process, or another
// machine's (whose processes this one cannot see).
func (c Client) Gone(me Client) string {
	switch {
	case c.Host != me.Host:
		return ""
	case c.Boot != me.Boot:
		return "its client ran before this machine last booted"
	case c.PID == me.PID && c.Start == me.Start:
		return ""
	case ProcessStart(c.PID) != c.Start:
		return fmt.Sprintf("its client (pid %d) is gone", c.PID)
	}
	return ""
}
