package sandbox

import (
	"fmt"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/decoy"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
)

// A decoy copied into a thousand files is listed in maxStashes of them and
// counted in the rest: the report stays short.
func TestStashesAreBounded(t *testing.T) {
	t.Parallel()
	d := decoy.New()
	files := map[string]string{}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("node_modules/evil/loot-%04d.txt", i)] = d.Env()["GITHUB_TOKEN"]
	}
	r := &runner{decoys: d, session: install.NoSession{}, staging: testproject.Write(t, files), plan: &install.Plan{Artifacts: []string{"node_modules"}}, res: &Result{}}
	if err := r.decoysInArtifacts(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.res.Theft); n != maxStashes+1 || !strings.Contains(r.res.Theft[n-1].How, "980 more files") {
		t.Errorf("%d theft attempts, the last %+v", n, r.res.Theft[len(r.res.Theft)-1])
	}
}
