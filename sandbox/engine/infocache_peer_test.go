package engine

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
)

// fakeInfoService answers a ping and the info call the way Podman 4.3.1
// does, as a rootless or a rootful engine, counting the info calls.
func fakeInfoService(rootless bool, idMap int, asked *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Libpod-API-Version", "4.3.1")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			_, _ = w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/libpod/info"):
			asked.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"host": map[string]any{"os": "linux", "arch": "amd64", "security": map[string]any{"rootless": rootless}, "ociRuntime": map[string]any{"name": "runc"},
					"idMappings": map[string]any{"uidmap": []map[string]int{{"container_id": 0, "host_id": idMap, "size": 1}}}},
				"store":   map[string]any{"graphDriverName": "overlay"},
				"version": map[string]any{"Version": "4.3.1"},
			})
		default:
			http.NotFound(w, r)
		}
	})
}

// otherUsersEngine is the engine another user runs, started by
// TestInfoRecordIsOfThisUsersEngine as this test binary (TestMain) in a
// process of its own.
func otherUsersEngine(sock string) error {
	if err := syscall.Setgid(65534); err != nil {
		return err
	}
	if err := syscall.Setuid(65534); err != nil {
		return err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	var asked atomic.Int32
	return http.Serve(l, fakeInfoService(false, 0, &asked))
}

// The record was made with this user's rootless service on the socket;
// the same path now leads to a rootful engine (another user's listener):
// its info is asked, not read from the record, or the run's rootless
// check and the cache volume's id mapping would be the old engine's.
func TestInfoRecordIsOfThisUsersEngine(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a listener as another user")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	// Not t.TempDir: its parent is closed to the other user.
	dir, err := os.MkdirTemp("", "engine-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "podman.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	srv := &http.Server{Handler: fakeInfoService(true, 1000, &asked)}
	go func() { _ = srv.Serve(l) }()
	ctx := context.Background()
	conn, err := bindings.NewConnection(ctx, "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &Podman{conn: conn, host: "local", local: true, private: true}
	if got, err := p.Info(ctx); err != nil || !got.Rootless || asked.Load() != 1 {
		t.Fatalf("first info: %+v, %v, asked %d", got, err, asked.Load())
	}
	p.RecordInfo()
	if _, err := p.Info(ctx); err != nil || asked.Load() != 1 {
		t.Fatalf("this user's engine is answered from the record: %v, asked %d, want 1", err, asked.Load())
	}
	srv.Close()
	os.Remove(sock)

	other := exec.Command(os.Args[0])
	other.Env = append(os.Environ(), "SAFE_INSTALL_TEST_OTHER_ENGINE="+sock)
	other.Stderr = os.Stderr
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !accepts(sock); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other user's engine never listened")
		}
	}
	got, err := p.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rootless || strings.Contains(got.IDMap, ":1000:") {
		t.Errorf("a rootful engine on the socket was answered from a rootless one's record: %+v", got)
	}
}
