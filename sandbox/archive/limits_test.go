package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// What Keep passes over is still read, so the limits hold for it too: a
// script can fill the tree outside the kept entries with sparse files (no
// disk used, each under the scripts' fsize limit, so the engine's archive
// endpoint streams their full size in zeros), and an extraction that read
// past them unbounded would read as long as the script liked. The same
// entries kept are refused (the control).
func TestExtractKeepReadsPastWithinLimits(t *testing.T) {
	t.Parallel()
	lim := DefaultLimits()
	lim.MaxBytes, lim.MaxFileBytes = 1<<20, 256<<10
	zeros := strings.Repeat("\x00", 256<<10)
	many := []entry{dir("node_modules/"), file("node_modules/a/index.js", "a")}
	for i := range 8 {
		many = append(many, file(fmt.Sprintf("node_modules/b/sparse%d", i), zeros))
	}
	huge := []entry{dir("node_modules/"), file("node_modules/a/index.js", "a"), {name: "node_modules/b/sparse", typ: tar.TypeReg, mode: 0o644, size: 1 << 40}}
	keepA := func(name string) bool { return name == "node_modules" || strings.HasPrefix(name, "node_modules/a") }
	for _, c := range []struct {
		name    string
		entries []entry
	}{{"many files past the byte limit", many}, {"one file past the file limit", huge}} {
		t.Run(c.name, func(t *testing.T) {
			for _, keep := range []func(string) bool{nil, keepA} {
				_, dest := hostTree(t)
				_, err := ExtractWith(bytes.NewReader(craft(t, c.entries...)), dest, "node_modules", lim, Options{Keep: keep})
				var refused *RefusedError
				if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "resource limit") {
					t.Errorf("keep %v: got %v, want a refusal at the limit", keep != nil, err)
				}
			}
		})
	}
}
