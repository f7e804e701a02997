//go:build e2e

package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
)

// ATK: the user's containers.conf names the default pid namespace
// (pidns = "host"). A sandbox container that takes it sees the host's
// processes (invariant 10), and a process it leaves behind outlives its
// init, so Exited's "the init ended, so did every process" is false: the
// fetch went on to the copy-back while a build hook's child still ran.
// The engine names a private pid namespace whatever the config says.
func TestE2EAttackPidnsFromContainersConf(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\npidns = \"host\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The private service this test starts inherits the environment.
	t.Setenv("CONTAINERS_CONF", conf)
	ctx := context.Background()
	eng, image, name := engineForTest(t, "pidns")
	marker := fmt.Sprintf("%d.%06d", 30, rand.IntN(1000000))
	id, err := eng.Create(ctx, engine.ContainerSpec{Name: name, Image: image,
		Command: []string{"sh", "-c", "sleep " + marker + " & sleep 1; cat /proc/1/cmdline; echo; exit 0"},
		User:    "1000:1000", Network: "none", Labels: map[string]string{labelRun: name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Remove(context.Background(), id) })
	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	// Control: the scan finds the container's sleeper while it runs.
	if !sleeperRuns(marker) {
		t.Fatal("control: the container's sleeper is not seen while the container runs")
	}
	deadline := time.Now().Add(20 * time.Second)
	code, ok := eng.Exited(ctx, id)
	for ; !ok && time.Now().Before(deadline); code, ok = eng.Exited(ctx, id) {
		time.Sleep(2 * time.Millisecond)
	}
	late := ok && sleeperRuns(marker)
	if _, err := eng.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	eng.Logs(ctx, id, &out)
	if late {
		t.Errorf("ATTACK WORKS: Exited said %d while a process of the container still ran (sleep %s)", code, marker)
	}
	if got := strings.TrimSpace(strings.ReplaceAll(out.String(), "\x00", " ")); !strings.HasPrefix(got, "sh -c") {
		t.Errorf("ATTACK WORKS: the container's pid 1 is %q, not its own command: it sees the host's processes", got)
	}
}

// sleeperRuns says whether a process of this machine runs sleep MARKER.
func sleeperRuns(marker string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		if b, err := os.ReadFile(d); err == nil && string(b) == "sleep\x00"+marker+"\x00" {
			return true
		}
	}
	return false
}
