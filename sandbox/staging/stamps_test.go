package staging

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

// An entry the swap replaces, changed on the host after the run saw it,
// is refused before the swap: package.json edited in place or replaced
// (an editor's rename), a lockfile that appeared, a package added at the
// top of node_modules. The control: the untouched project is accepted.
func TestStampsRefuseWhatChangedDuringTheRun(t *testing.T) {
	t.Parallel()
	names := []string{"package.json", "package-lock.json", "node_modules"}
	for _, tc := range []struct {
		name   string
		change func(proj string)
		want   string
	}{
		{"untouched", func(string) {}, ""},
		{"edited", func(p string) { appendTo(t, filepath.Join(p, "package.json"), `,"scripts":{}`) }, "package.json"},
		{"replaced", func(p string) {
			write(t, filepath.Join(p, "package.json.new"), `{"name":"p"}`)
			must(t, os.Rename(filepath.Join(p, "package.json.new"), filepath.Join(p, "package.json")))
		}, "package.json"},
		{"lockfile made", func(p string) { write(t, filepath.Join(p, "package-lock.json"), "{}") }, "package-lock.json"},
		{"package added", func(p string) { write(t, filepath.Join(p, "node_modules/x/index.js"), "x") }, "node_modules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proj := t.TempDir()
			write(t, filepath.Join(proj, "package.json"), `{"name":"p"}`)
			write(t, filepath.Join(proj, "node_modules/a/index.js"), "a")
			seen := StampOf(proj, names)
			tc.change(proj)
			err := seen.Unchanged(proj)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("control: the untouched project is refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("ATTACK WORKS: %s changed during the run, and the swap would undo it", tc.want)
			case tc.want != "" && (!errors.Is(err, install.ErrPolicy) || !strings.HasPrefix(strings.TrimPrefix(err.Error(), install.ErrPolicy.Error()+": "), tc.want+" changed")):
				t.Errorf("the refusal does not name %s: %v", tc.want, err)
			}
		})
	}
}

func appendTo(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(s)
	must(t, errors.Join(err, f.Close()))
}
