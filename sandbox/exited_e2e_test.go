//go:build e2e

package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
)

// The fetch phase takes a local engine's word on its container's exit
// from the container's conmon (engine.Exited), before Podman's clean-up:
// with this engine, that word comes, and it is the exit code Wait gives.
// While the container runs there is none.
func TestE2EExitedIsWhatWaitSays(t *testing.T) {
	ctx := context.Background()
	eng, image, name := engineForTest(t, "exited")
	id, err := eng.Create(ctx, engine.ContainerSpec{Name: name, Image: image, Command: []string{"sh", "-c", "sleep 2; exit 7"},
		User: "1000:1000", Network: "none", Labels: map[string]string{labelRun: name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Remove(context.Background(), id) })
	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the pin is taken after Start
	if code, ok := eng.Exited(ctx, id); ok {
		t.Fatalf("Exited answered %d while the container runs", code)
	}
	deadline := time.Now().Add(20 * time.Second)
	code, ok := eng.Exited(ctx, id)
	for ; !ok && time.Now().Before(deadline); code, ok = eng.Exited(ctx, id) {
		time.Sleep(5 * time.Millisecond)
	}
	if !ok {
		t.Fatal("Exited never answered: the fetch waits for Podman's clean-up with this engine")
	}
	waited, err := eng.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 || waited != 7 {
		t.Errorf("Exited said %d, Wait %d; the container exited 7", code, waited)
	}
}
