package engine

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Corpus ATK-9: an nsenter first on PATH (a package's console script in
// an activated virtual environment) is not the one the copy-in runs.
// Control: PATH's lookup finds the planted one.
func TestSystemNsenterIgnoresPath(t *testing.T) {
	dir := t.TempDir()
	planted := filepath.Join(dir, "nsenter")
	if err := os.WriteFile(planted, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, err := exec.LookPath("nsenter"); err != nil || got != planted {
		t.Fatalf("control: PATH's nsenter is %q (%v), not the planted %s", got, err, planted)
	}
	got, err := systemNsenter()
	if got == planted {
		t.Fatalf("the copy-in would run the nsenter first on PATH: %s", got)
	}
	if err != nil {
		t.Logf("no system nsenter here: %v", err)
	} else if !slices.Contains(nsenterDirs, filepath.Dir(got)) {
		t.Errorf("nsenter from %s", got)
	}
}

// A fd this process inherited without close-on-exec does not reach the
// child startAlone starts, and is inheritable again afterwards (the user's
// own command after the install gets it). Control: a child started the
// plain way gets it.
func TestStartAloneLeavesInheritedOut(t *testing.T) {
	fd, err := unix.Open("/dev/zero", unix.O_RDONLY, 0) // no O_CLOEXEC: as if inherited
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fdOf := func(alone bool) bool {
		var out bytes.Buffer
		cmd := exec.Command("ls", "/proc/self/fd")
		cmd.Stdout = &out
		start := cmd.Start
		if alone {
			start = func() error { return startAlone(cmd) }
		}
		if err := start(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		return slices.Contains(strings.Fields(out.String()), strconv.Itoa(fd))
	}
	if !fdOf(false) {
		t.Fatalf("control: a plain child does not get fd %d", fd)
	}
	if fdOf(true) {
		t.Errorf("startAlone's child got the inherited fd %d", fd)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Errorf("fd %d after startAlone: flags %d (%v), want inheritable again", fd, flags, err)
	}
}
