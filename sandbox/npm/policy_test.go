package npm

import (
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

func TestScriptPolicy(t *testing.T) {
	t.Parallel()
	pkg := []byte(`{
	  "allowScripts": {"esbuild": true, "evil": false, "sharp@0.33.5": true},
	  "pnpm": {"onlyBuiltDependencies": ["bcrypt"], "allowBuilds": {"canvas": false}},
	  "trustedDependencies": ["@swc/core"]
	}`)
	p := readScriptPolicy(pkg, []string{"evil", "extra"}, []string{"bcrypt"}, 11, false)
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
	lock := layout.Lockfile{Packages: map[string]layout.Package{
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
	if p := readScriptPolicy([]byte(`{"name": "x"}`), nil, nil, 11, false); p.Active || len(p.Allowed) != 0 {
		t.Errorf("policy %+v from a package.json without one", p)
	}
}

// The lockfile, not the scripts' output, says who ran scripts.
func TestScriptDirs(t *testing.T) {
	l := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"":                              {},
		"node_modules/esbuild":          {Version: "0.21.0", HasInstallScript: true},
		"node_modules/a/node_modules/b": {Version: "1.0.0", HasInstallScript: true},
		"node_modules/plain":            {Version: "1.0.0"},
		"node_modules/evil":             {Version: "6.6.6", HasInstallScript: true},
	}}
	dirs, ok := scriptDirs(l, scriptPolicy{})
	if !ok || len(dirs) != 3 || !dirs["node_modules/a/node_modules/b"] || dirs["node_modules/plain"] {
		t.Errorf("no policy: %v", dirs)
	}
	dirs, _ = scriptDirs(l, scriptPolicy{Active: true, Allowed: []string{"esbuild", "b@1.0.0", "evil"}, Denied: []string{"evil"}})
	if len(dirs) != 2 || dirs["node_modules/evil"] {
		t.Errorf("policy: %v", dirs)
	}
	if _, ok := scriptDirs(layout.Lockfile{Version: 1}, scriptPolicy{}); ok {
		t.Error("a v1 lockfile cannot say who has scripts")
	}
}

// Under npm 12 a project without allowScripts runs no dependency's
// scripts; --sandbox-all-scripts runs them all but the denied.
func TestNPM12Policy(t *testing.T) {
	t.Parallel()
	lock := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/esbuild":               {Version: "0.24.2", HasInstallScript: true},
		"node_modules/bcrypt":                {Version: "6.0.0", HasInstallScript: true},
		"node_modules/a/node_modules/bcrypt": {Version: "6.0.0", HasInstallScript: true},
		"node_modules/evil":                  {Version: "1.0.0", HasInstallScript: true},
		"node_modules/left-pad":              {Version: "1.3.0"},
	}}
	p := readScriptPolicy([]byte(`{"name": "x"}`), nil, nil, 12, false)
	if !p.Active || p.runs("esbuild", "0.24.2") {
		t.Errorf("npm 12 without allowScripts: %+v runs esbuild", p)
	}
	if got, want := p.notReviewed(lock), []string{"bcrypt@6.0.0", "esbuild@0.24.2", "evil@1.0.0"}; !slices.Equal(got, want) {
		t.Errorf("held back %v, want %v", got, want)
	}
	p = readScriptPolicy([]byte(`{"allowScripts": {"esbuild@0.24.2": true}}`), nil, []string{"evil"}, 12, true)
	if !p.runs("bcrypt", "6.0.0") || !p.runs("esbuild", "0.24.2") || p.runs("evil", "1.0.0") {
		t.Errorf("--sandbox-all-scripts: %+v", p)
	}
	if got := p.notReviewed(lock); len(got) != 0 {
		t.Errorf("--sandbox-all-scripts holds back %v", got)
	}
	dirs, _ := scriptDirs(lock, p)
	if len(dirs) != 3 || dirs["node_modules/evil"] {
		t.Errorf("script dirs %v", dirs)
	}
	// Under npm 11 nothing changes: no decision, every script runs.
	if p := readScriptPolicy([]byte(`{}`), nil, nil, 11, false); p.Active || !p.runs("esbuild", "0.24.2") {
		t.Errorf("npm 11: %+v", p)
	}
}

func TestHeldBack(t *testing.T) {
	t.Parallel()
	staging := testproject.Write(t, map[string]string{
		"node_modules/bcrypt/package.json":  `{"name": "bcrypt", "scripts": {"install": "node-gyp-build"}}`,
		"node_modules/addon/package.json":   `{"name": "addon"}`,
		"node_modules/addon/binding.gyp":    `{}`,
		"node_modules/esbuild/package.json": `{"scripts": {"postinstall": "node install.js"}}`,
	})
	lock := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/bcrypt":  {Version: "6.0.0", HasInstallScript: true},
		"node_modules/addon":   {Version: "1.0.0", HasInstallScript: true},
		"node_modules/esbuild": {Version: "0.24.2", HasInstallScript: true},
	}}
	pol := readScriptPolicy([]byte(`{"allowScripts": {"esbuild": true}}`), nil, nil, 12, false)
	hb := heldBack(lock, pol, staging)
	want := []install.HeldBack{{Package: "addon@1.0.0", Scripts: []string{"install: node-gyp rebuild (implicit, for binding.gyp)"}}, {Package: "bcrypt@6.0.0", Scripts: []string{"install: node-gyp-build"}}}
	if !slices.EqualFunc(hb, want, func(a, b install.HeldBack) bool { return a.Package == b.Package && slices.Equal(a.Scripts, b.Scripts) }) {
		t.Errorf("held back %+v, want %+v", hb, want)
	}
	w := heldBackWarning(hb)
	for _, s := range []string{"2 packages with install scripts not reviewed, so held back", "npm install-scripts approve addon bcrypt", `"addon@1.0.0": true, "bcrypt@6.0.0": true`, "--allow-scripts addon,bcrypt", "--sandbox-all-scripts"} {
		if !strings.Contains(w, s) {
			t.Errorf("warning %q lacks %q", w, s)
		}
	}
}

func TestGitHookNotes(t *testing.T) {
	t.Parallel()
	got := gitHookNotes([]install.ScriptRun{
		{Package: "simple-git-hooks@2.14.0", Event: "postinstall", Recorded: true},
		{Package: "husky@4.3.8", Event: "install"}, // announced, not in npm's record
		{Package: "esbuild@0.24.2", Event: "postinstall", Recorded: true},
	})
	if len(got) != 1 || !strings.Contains(got[0], "simple-git-hooks@2.14.0 installs git hooks") || !strings.Contains(got[0], "`npx simple-git-hooks`") {
		t.Errorf("notes %q", got)
	}
}
