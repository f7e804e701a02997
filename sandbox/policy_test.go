package sandbox

import (
	"slices"
	"testing"
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
