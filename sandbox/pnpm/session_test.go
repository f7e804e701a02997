package pnpm

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

// .modules.yaml may change only as pnpm rebuild changes it: builds taken
// off pendingBuilds.
func TestModulesRecordMayOnlyLoseItsPendingBuilds(t *testing.T) {
	fetchedDoc := `{"storeDir":"/cache/pnpm-store/v11","hoistPattern":["*"],"pendingBuilds":["esbuild@0.23.1","evil@1.0.0"]}`
	for _, c := range []struct {
		staged, want string
	}{
		{`{"storeDir":"/cache/pnpm-store/v11","hoistPattern":["*"],"pendingBuilds":["evil@1.0.0"]}`, ""},
		{`{"storeDir":"/home/user/.ssh","hoistPattern":["*"],"pendingBuilds":[]}`, `"storeDir" changed`},
		{`{"storeDir":"/cache/pnpm-store/v11","hoistPattern":["*"],"pendingBuilds":["other@1.0.0"]}`, "pending build the fetch did not"},
		{`{"storeDir":"/cache/pnpm-store/v11","hoistPattern":["*"],"pendingBuilds":[],"publicHoistPattern":["*"]}`, `"publicHoistPattern" changed`},
		{`not json`, "no longer JSON"},
	} {
		s := &session{pending: []string{"esbuild@0.23.1", "evil@1.0.0"}}
		if err := json.Unmarshal([]byte(fetchedDoc), &s.modules); err != nil {
			t.Fatal(err)
		}
		staging := t.TempDir()
		if err := os.MkdirAll(filepath.Join(staging, "node_modules"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(staging, "node_modules", ".modules.yaml"), []byte(c.staged), 0o644); err != nil {
			t.Fatal(err)
		}
		err := s.checkModules(staging)
		var ae *install.ArtifactError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.staged, err)
		case c.want != "" && (!errors.As(err, &ae) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want an artifact error with %q", c.staged, err, c.want)
		}
	}
}

func TestShortenedHeadersGetThePendingVersion(t *testing.T) {
	s := &session{pending: []string{"writes-own-file@1.0.0", "two@1.0.0", "two@2.0.0"}, rebuild: []string{"writes-own-file", "two"}}
	runs := []install.ScriptRun{{Package: "writes-own-file", Event: "postinstall"}, {Package: "two", Event: "install"}, {Package: "evil@6.6.6", Event: "install"}}
	s.PhaseDone(t.Context(), noFiles{}, runs)
	if runs[0].Package != "writes-own-file@1.0.0" || runs[1].Package != "two" || !runs[0].Recorded || runs[2].Recorded {
		t.Fatalf("runs %+v", runs)
	}
}

// noFiles is a container with no files.
type noFiles struct{}

func (noFiles) Read(context.Context, string, int64) ([]byte, error) { return nil, fs.ErrNotExist }
func (noFiles) Walk(context.Context, string, int64, func(string, []byte) error) error {
	return nil
}
func (noFiles) Stage(context.Context, string) (string, error) { return "", nil }

// The returned .modules.yaml names the host's store, and keeps the rest of
// pnpm's record; with no host store known it stays as pnpm wrote it.
func TestModulesRecordNamesTheHostStore(t *testing.T) {
	doc := `{"storeDir":"/cache/pnpm-store/v11","layoutVersion":5,"virtualStoreDir":".pnpm","pendingBuilds":[]}`
	for _, host := range []string{"/home/u/.local/share/pnpm/store/v11", "", "relative/store"} {
		s := &session{hostStore: host}
		if err := json.Unmarshal([]byte(doc), &s.modules); err != nil {
			t.Fatal(err)
		}
		staging := t.TempDir()
		file := filepath.Join(staging, "node_modules", ".modules.yaml")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.pointAtHostStore(staging); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		want := host
		if !filepath.IsAbs(host) {
			want = "/cache/pnpm-store/v11"
		}
		if got["storeDir"] != want || got["virtualStoreDir"] != ".pnpm" || got["layoutVersion"] != 5.0 {
			t.Errorf("host store %q: the record is now %s", host, data)
		}
		if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
			t.Errorf("host store %q: left %d files in node_modules", host, len(entries))
		}
	}
}
