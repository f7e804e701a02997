package sandbox

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/archive"
)

func TestScriptPolicy(t *testing.T) {
	t.Parallel()
	pkg := []byte(`{
	  "allowScripts": {"esbuild": true, "evil": false, "sharp@0.33.5": true},
	  "pnpm": {"onlyBuiltDependencies": ["bcrypt"], "allowBuilds": {"canvas": false}},
	  "trustedDependencies": ["@swc/core"]
	}`)
	p := readScriptPolicy(pkg, []string{"evil", "extra"}, []string{"bcrypt"})
	if !p.Active {
		t.Fatal("policy not active")
	}
	// Denials win: evil (allowScripts false, though --allow-scripts names
	// it) and bcrypt (--deny-scripts) do not run.
	if want := []string{"@swc/core", "esbuild", "extra", "sharp@0.33.5"}; !slices.Equal(p.Allowed, want) {
		t.Errorf("allowed %v, want %v", p.Allowed, want)
	}
	if want := []string{"bcrypt", "canvas", "evil"}; !slices.Equal(p.Denied, want) {
		t.Errorf("denied %v, want %v", p.Denied, want)
	}
	lock := npmLockfile{Packages: map[string]npmLockPackage{
		"node_modules/esbuild":                   {Version: "0.24.2", HasInstallScript: true},
		"node_modules/sharp":                     {Version: "0.33.4", HasInstallScript: true},
		"node_modules/a/node_modules/@scope/new": {Version: "1.0.0", HasInstallScript: true},
		"node_modules/plain":                     {Version: "1.0.0"},
	}}
	if got, want := p.notReviewed(lock), []string{"@scope/new@1.0.0", "sharp@0.33.4"}; !slices.Equal(got, want) {
		t.Errorf("not reviewed %v, want %v", got, want)
	}
}

func TestNoPolicyRunsEverything(t *testing.T) {
	t.Parallel()
	if p := readScriptPolicy([]byte(`{"name": "x"}`), nil, nil); p.Active || len(p.Allowed) != 0 {
		t.Errorf("policy %+v from a package.json without one", p)
	}
}

func TestTamperCheck(t *testing.T) {
	t.Parallel()
	sum := func(s string) archive.Sum { return sha256.Sum256([]byte(s)) }
	before := archive.Sums{
		"node_modules/victim/index.js":   sum("v"),
		"node_modules/addon/binding.gyp": sum("g"),
		"node_modules/tamper/inject.js":  sum("t"),
	}
	ran := map[string]bool{"node_modules/tamper": true, "node_modules/addon": true}
	c := newTamperCheck(before, func(dir string) bool { return ran[dir] })
	for _, tt := range []struct {
		name    string
		content string
		refused bool
	}{
		{"node_modules/victim/index.js", "v", false},            // unchanged
		{"node_modules/victim/index.js", "v+payload", true},     // changed, victim ran nothing
		{"node_modules/victim/extra.js", "planted", true},       // added into victim
		{"node_modules/addon/build/Release/a.node", "x", false}, // addon's own build
		{"node_modules/tamper/inject.js", "t2", false},          // its own dir
		{"node_modules/.prisma/client/index.js", "x", false},    // a new directory
		{"node_modules/.package-lock.json", "x", false},         // npm's own file
	} {
		if got := c.check(tt.name, sum(tt.content)) != ""; got != tt.refused {
			t.Errorf("%s (%q): refused %v, want %v", tt.name, tt.content, got, tt.refused)
		}
	}
	if len(c.changed) != 6 {
		t.Errorf("changed files %v, want every one but the unchanged", c.changed)
	}
	if name, _ := c.deleted(); name != "" {
		t.Errorf("%s reported deleted, but every file came back", name)
	}
	// The second check sees neither victim's file nor the addon's binding.gyp.
	c = newTamperCheck(before, func(dir string) bool { return ran[dir] })
	c.check("node_modules/tamper/inject.js", sum("t"))
	if name, reason := c.deleted(); name != "node_modules/victim/index.js" || !strings.Contains(reason, "deleted") {
		t.Errorf("deleted() = %q, %q; want victim's index.js (the addon ran its own script)", name, reason)
	}
}

// The lockfile, not the scripts' output, says who ran scripts.
func TestScriptDirs(t *testing.T) {
	l := npmLockfile{Version: 3, Packages: map[string]npmLockPackage{
		"":                              {},
		"node_modules/esbuild":          {Version: "0.21.0", HasInstallScript: true},
		"node_modules/a/node_modules/b": {Version: "1.0.0", HasInstallScript: true},
		"node_modules/plain":            {Version: "1.0.0"},
		"node_modules/evil":             {Version: "6.6.6", HasInstallScript: true},
	}}
	dirs, ok := scriptDirs(l, ScriptPolicy{})
	if !ok || len(dirs) != 3 || !dirs["node_modules/a/node_modules/b"] || dirs["node_modules/plain"] {
		t.Errorf("no policy: %v", dirs)
	}
	dirs, _ = scriptDirs(l, ScriptPolicy{Active: true, Allowed: []string{"esbuild", "b@1.0.0", "evil"}, Denied: []string{"evil"}})
	if len(dirs) != 2 || dirs["node_modules/evil"] {
		t.Errorf("policy: %v", dirs)
	}
	if _, ok := scriptDirs(npmLockfile{Version: 1}, ScriptPolicy{}); ok {
		t.Error("a v1 lockfile cannot say who has scripts")
	}
}

func TestParseSums(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b\n"))
	in := fmt.Sprintf("%x  node_modules/a/index.js\x00%x  node_modules/we ird\nname.js\x00", a, b)
	sums := archive.Sums{}
	if err := parseSums(strings.NewReader(in), sums); err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums["node_modules/a/index.js"] != a || sums["node_modules/we ird\nname.js"] != b {
		t.Errorf("sums %v", sums)
	}
	if err := parseSums(strings.NewReader("zz  x\x00"), archive.Sums{}); err == nil {
		t.Error("a malformed record was accepted")
	}
}
