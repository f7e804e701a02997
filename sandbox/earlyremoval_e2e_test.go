//go:build e2e

package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
)

// With no scripts container to follow, a local engine's fetch container is
// removed as soon as the fetch is read (0d8d8b8), and the artifacts come
// from the holder: read through its root, or, where an entry is not
// readable from here (engine.ReadableTree), through the engine's archive
// endpoint, from the holder too, the fetch container being gone or going.
// Here the fetch leaves a file of mode 600 (owned by the sandbox's user,
// so not readable through the holder's root from the host's user): the
// run must still succeed, with the tree the fetch wrote, the fallback
// reading from the holder. The control: the same fetch with every file
// readable is read locally (no fallback) and gives the same tree.
func TestE2EEarlyRemovalFallbackThroughHolder(t *testing.T) {
	ctx := context.Background()
	eng, image, _ := engineForTest(t, "early")
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer reg.Close()

	for _, private := range []bool{true, false} {
		script := "mkdir -p /work/out/sub && echo open >/work/out/open.txt && echo secret >/work/out/sub/private.txt"
		if private {
			script += " && chmod 600 /work/out/sub/private.txt && chmod 700 /work/out/sub"
		}
		project := t.TempDir()
		plan := &install.Plan{
			Manager: "probe", Project: project, Artifacts: []string{"out"},
			Inputs:     []install.Input{{Name: "in.txt", Data: []byte("in\n"), Mode: 0o644}},
			Fetch:      install.Phase{Command: egress.RelayCommand("sh", "-c", script), Env: map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/sandbox"}},
			Registries: []egress.Registry{{URL: reg.URL + "/"}},
		}
		core, logs := observer.New(zapcore.DebugLevel)
		lim := DefaultLimits()
		lim.Timeout = 2 * time.Minute
		res, err := Run(ctx, eng, plan, Options{Image: image, Limits: lim, Log: zap.New(core)})
		if err != nil {
			t.Fatalf("private=%v: the run failed: %v", private, err)
		}
		for name, want := range map[string]string{"out/open.txt": "open\n", "out/sub/private.txt": "secret\n"} {
			if data, err := os.ReadFile(filepath.Join(project, name)); err != nil || string(data) != want {
				t.Errorf("private=%v: %s is %q (%v), want %q", private, name, data, err, want)
			}
		}
		ids := map[string]string{} // container name suffix -> id
		for _, e := range logs.FilterMessage("container created").All() {
			m := e.ContextMap()
			name, _ := m["name"].(string)
			ids[name[strings.LastIndex(name, "-")+1:]], _ = m["id"].(string)
		}
		if ids["holder"] == "" || len(res.Phases) != 1 || res.Phases[0].Container != ids["fetch"] {
			t.Fatalf("private=%v: no holder or fetch container logged (%v), or phases %+v", private, ids, res.Phases)
		}
		var from []string
		for _, e := range logs.FilterMessageSnippet("copy-back falls back to the archive endpoint").All() {
			m := e.ContextMap()
			if m["path"] == install.WorkDir+"/out" {
				c, _ := m["container"].(string)
				from = append(from, c)
			}
		}
		switch {
		case private && (len(from) != 1 || from[0] != ids["holder"]):
			t.Errorf("the artifacts' fallback read from %v, want the holder %s alone (the fetch container was %s)", from, ids["holder"], ids["fetch"])
		case !private && len(from) != 0:
			t.Errorf("control: every entry readable, yet the fallback read from %v", from)
		}
		if left := logs.FilterMessageSnippet("removing the fetch container early").Len(); left != 0 {
			t.Errorf("private=%v: the early removal failed %d times", private, left)
		}
		t.Logf("private=%v: fallback from %v (holder %s, fetch %s)", private, from, ids["holder"][:12], ids["fetch"][:12])
	}
}
