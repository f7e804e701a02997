package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Imports point one way: cmd -> sandbox -> {seccomp, images}. Only sandbox
// talks to Podman; seccomp and images know neither Podman, urfave/cli nor zap.
func TestImportsPointOneWay(t *testing.T) {
	t.Parallel()
	forbidden := map[string][]string{
		"github.com/safe-install/safe-install/images":  {"github.com/containers/podman", "github.com/urfave/cli", "go.uber.org/zap", "github.com/safe-install/safe-install/sandbox"},
		"github.com/safe-install/safe-install/seccomp": {"github.com/containers/podman", "github.com/urfave/cli", "go.uber.org/zap", "github.com/safe-install/safe-install/sandbox"},
		"github.com/safe-install/safe-install/sandbox": {"github.com/urfave/cli"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-tags", "remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
