package incremental

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// A directory of a recorded package replaced by a symlink to a directory
// outside node_modules while the trust check walks (a racing process on
// the host) never leads the walk out: the inputs it lists hold no name of
// a file there and no target of a link there (which the copy-in writes
// as they are). The control: the racer did change z under walks (some
// listed z as the link it was when read, or failed, or were refused),
// and home's names are reachable through that link.
func TestAttackTrustWalkFollowsADirectorySwappedForALink(t *testing.T) {
	t.Parallel()
	project := installedTree(t)
	for i := range 1000 {
		write(t, filepath.Join(project, fmt.Sprintf("node_modules/a/lib/f%04d.js", i)), "x")
	}
	write(t, filepath.Join(project, "node_modules/a/z/index.js"), "x")
	home := filepath.Join(project, "home")
	write(t, filepath.Join(home, "id_ed25519"), "PRIVATE KEY")
	must(t, os.Symlink("SECRET-TARGET", filepath.Join(home, "hostlink")))
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(project, "node_modules/.package-lock.json"), later, later))
	var lock layout.Lockfile
	data, err := os.ReadFile(filepath.Join(project, "package-lock.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &lock))

	z := filepath.Join(project, "node_modules/a/z")
	aside := filepath.Join(project, "z-aside")
	if _, err := os.Stat(filepath.Join(project, "node_modules/a", "../../home", "id_ed25519")); err != nil {
		t.Fatalf("control: %v", err)
	}
	defer swapper(z, aside, "../../home")()
	tries, changed := 0, 0
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline) && !(tries >= 30 && changed >= 5); tries++ {
		in, _ := Plan(project, nil, false, "package-lock.json", lock, nil)
		if in == nil {
			changed++ // refused: the run rebuilds whole, nothing of the tree goes in
			continue
		}
		sawZ := false
		for _, i := range in.Inputs() {
			if i.Name == "node_modules/a/z/index.js" {
				sawZ = true
			}
			if strings.Contains(i.Name, "id_ed25519") || strings.Contains(i.Name, "hostlink") || i.Link == "SECRET-TARGET" {
				t.Fatalf("ATTACK WORKS: after %d walks the trust check listed %+v, from outside node_modules", tries+1, i)
			}
		}
		if !sawZ {
			changed++
		}
	}
	t.Logf("%d walks raced, %d saw z as the link or were refused, none listed what is outside node_modules", tries, changed)
	if changed == 0 {
		t.Fatal("control: the racer never changed z under a walk: the test proves nothing")
	}
}
