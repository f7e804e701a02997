package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/images"
)

// noImages is an engine that has no image and records imports.
type noImages struct{ imported int }

func (*noImages) ImageExists(context.Context, string) (bool, error) { return false, nil }
func (n *noImages) ImportImage(context.Context, string, io.Reader, []string) (string, error) {
	n.imported++
	return "", errors.New("no import here")
}
func (*noImages) RemoveImage(context.Context, string) error { return nil }

// The default image missing, a plan that failed is told before any build
// starts (RunPlanned makes the plan while the engine is reached: the
// build, minutes of it, came first and the plan's error after). The
// control: with the plan made, the build starts.
func TestEnsureImageOfAsksBeforeBuilding(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("ca"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := func() (images.Spec, error) {
		return images.Spec{Node: "0.0.0-test", NPM: "11.0.0", Suite: "bookworm", Mirror: "http://127.0.0.1:9/", CABundle: ca, Arch: "amd64"}, nil
	}
	planErr := errors.New("the plan failed")
	for _, planned := range []error{planErr, nil} {
		var progress strings.Builder
		// Canceled: a build that starts stops at once, before it would
		// reach the registry for node and npm.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := EnsureImageOf(ctx, &noImages{}, "", host, "", &progress, func() error { return planned })
		building := strings.Contains(progress.String(), "building it")
		switch {
		case planned != nil && (!errors.Is(err, planErr) || building):
			t.Errorf("with the plan failed: %v, built: %v (%q)", err, building, progress.String())
		case planned == nil && !building:
			t.Errorf("control: with the plan made the build did not start: %v (%q)", err, progress.String())
		}
	}
}
