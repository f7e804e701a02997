package npm

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
)

func TestReleaseAge(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var auths []string
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.EscapedPath() {
		case "/old":
			w.Write([]byte(`{"time": {"created": "2015-01-01T00:00:00Z", "1.0.0": "2015-01-01T00:00:00.000Z", "1.0.1": "2026-11-27T09:00:00.000Z"}}`))
		case "/@scope%2fpkg":
			w.Write([]byte(`{"time": {"2.0.0": "2026-11-20T00:00:00.000Z"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer reg.Close()
	lock := func(t *testing.T, oldVersion string) string {
		p := filepath.Join(t.TempDir(), "package-lock.json")
		data := `{"lockfileVersion": 3, "packages": {
			"": {"name": "proj"},
			"node_modules/old": {"version": "` + oldVersion + `", "resolved": "` + reg.URL + `/old/-/old-` + oldVersion + `.tgz"},
			"node_modules/x/node_modules/@scope/pkg": {"version": "2.0.0"},
			"node_modules/local": {"version": "1.0.0", "resolved": "file:../local"},
			"node_modules/linked": {"link": true, "resolved": "packages/linked"}
		}}`
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	regs := []egress.Registry{{URL: reg.URL + "/", Auth: "Bearer TOKEN"}}
	c := ReleaseAge{Min: 48 * time.Hour, Now: func() time.Time { return now }}

	if err := c.Check(t.Context(), lock(t, "1.0.0"), regs); err != nil {
		t.Fatalf("old versions: %v", err)
	}
	err := c.Check(t.Context(), lock(t, "1.0.1"), regs)
	var tooNew *TooNewError
	if !errors.As(err, &tooNew) || !errors.Is(err, install.ErrPolicy) || tooNew.Package != "old@1.0.1" || tooNew.Age != 3*time.Hour {
		t.Fatalf("a 3-hour-old version: %v", err)
	}
	if !strings.Contains(err.Error(), "published 3h ago") || !strings.Contains(err.Error(), "--min-release-age 48h;") {
		t.Errorf("message: %v", err)
	}
	for _, a := range auths {
		if !strings.HasSuffix(a, " Bearer TOKEN") {
			t.Errorf("request without the registry's credential: %q", a)
		}
	}
	c.Min = 10 * 24 * time.Hour // the scoped package is 7.5 days old
	if err := c.Check(t.Context(), lock(t, "1.0.0"), regs); !errors.As(err, &tooNew) || tooNew.Package != "@scope/pkg@2.0.0" {
		t.Errorf("scoped package: %v", err)
	}
}
