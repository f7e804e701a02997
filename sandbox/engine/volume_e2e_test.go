//go:build e2e

package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
)

// Issue 17: first runs at once all create the shared cache volume; Podman
// 4.3 answers "already exists" to the ones that come second between the
// check and the create. For a shared volume that is success.
func TestE2ESharedVolumeCreatedAtOnce(t *testing.T) {
	ctx := context.Background()
	p := localEngine(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "safe-install-cache-test-" + hex.EncodeToString(b)
	t.Cleanup(func() { p.RemoveVolume(context.Background(), name) })
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.CreateVolume(ctx, VolumeSpec{Name: name, Shared: true, Labels: map[string]string{"io.safe-install.cache": "test"}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create %d of 8 at once: %v", i, err)
		}
	}
}
