package engine

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/containers/podman/v5/pkg/bindings"
)

// A local engine's info is asked once and then read from the record
// while nothing it follows from changes; a changed configuration file
// asks again, and a service that no longer answers is no engine, record
// or not.
func TestLocalInfoIsRecorded(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	srv := &http.Server{Handler: fakeInfoService(true, 1000, &asked)}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	ctx := context.Background()
	conn, err := bindings.NewConnection(ctx, "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &Podman{conn: conn, host: "local", local: true, private: true}
	info := func() EngineInfo {
		t.Helper()
		got, err := p.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := info(); got.Runtime != "runc" || !got.Rootless || got.Storage != "overlay" {
		t.Fatalf("info = %+v", got)
	}
	// Not recorded until the run says it succeeded: a failed run leaves
	// nothing on the host.
	info()
	if asked.Load() != 2 {
		t.Fatalf("asked %d times for info before any was recorded, want 2", asked.Load())
	}
	if _, err := os.Stat(filepath.Join(home, "cache", "safe-install", "engine-info.json")); err == nil {
		t.Fatal("the info was recorded before the run succeeded")
	}
	p.RecordInfo()
	if got := info(); asked.Load() != 2 || got.Runtime != "runc" || !got.Rootless {
		t.Fatalf("asked %d times for info, want 2 (the third from the record): %+v", asked.Load(), got)
	}
	conf := filepath.Join(home, "config", "containers", "containers.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[engine]\nruntime = \"crun\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if info(); asked.Load() != 3 {
		t.Fatalf("asked %d times after containers.conf was written, want 3", asked.Load())
	}
	// A service that is not the run's own (the user's systemd one, a
	// remote) is asked every time.
	shared := &Podman{conn: conn, host: "local", local: true}
	if _, err := shared.Info(ctx); err != nil || asked.Load() != 4 {
		t.Fatalf("a shared local engine's info: %v, asked %d times, want 4", err, asked.Load())
	}
	remote := &Podman{conn: conn, host: "ssh://me@there"}
	if _, err := remote.Info(ctx); err != nil || asked.Load() != 5 {
		t.Fatalf("a remote engine's info: %v, asked %d times, want 5", err, asked.Load())
	}
	srv.Close()
	if _, err := p.Info(ctx); err == nil {
		t.Fatal("info answered from the record for a service that is gone")
	}
}
