package pnpm

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func opts() install.PlanOptions {
	return install.PlanOptions{PNPMVersion: "12.23.0", Home: "/nonexistent", Env: map[string]string{}, Warn: func(string) {}}
}

func TestPlanFrozenInstall(t *testing.T) {
	dir := project(t, map[string]string{
		"package.json":        `{"name":"p","dependencies":{"esbuild":"0.23.1"}}`,
		"pnpm-lock.yaml":      "lockfileVersion: '9.0'\n",
		"pnpm-workspace.yaml": "allowBuilds:\n  esbuild: true\n  evil: false\n",
		".npmrc":              "script-shell=/tmp/evil\nsave-exact=true\n",
	})
	p, err := Manager{}.Plan(dir, []string{"install", "--frozen-lockfile"}, opts())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range p.Inputs {
		names = append(names, in.Name)
		if in.Name == ".npmrc" && strings.Contains(string(in.Data), "script-shell") {
			t.Errorf("the project's .npmrc went in unsanitised: %q", in.Data)
		}
	}
	if want := []string{"package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml", ".npmrc"}; !slices.Equal(names, want) {
		t.Errorf("inputs %q, want %q", names, want)
	}
	cmd := strings.Join(p.Fetch.Command, " ")
	for _, want := range []string{"sh 12.23.0  install --ignore-scripts --store-dir=/cache/pnpm-store --cache-dir=/cache/pnpm-metadata --package-import-method=copy --frozen-lockfile"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("fetch command %q lacks %q", cmd, want)
		}
	}
	if p.Scripts == nil || !slices.Equal(p.Policy.Allowed, []string{"esbuild"}) || !slices.Equal(p.Policy.Denied, []string{"evil"}) || p.Policy.AllowedIn != "allowBuilds" {
		t.Errorf("scripts %v, policy %+v", p.Scripts, p.Policy)
	}
	if len(p.Manifests) != 0 {
		t.Errorf("a frozen install brings back %q", p.Manifests)
	}
}

func TestPlanPlainInstallBringsBackTheLockfileAndRunsNoBuildUnallowed(t *testing.T) {
	dir := project(t, map[string]string{"package.json": `{"name":"p"}`})
	p, err := Manager{}.Plan(dir, []string{"install"}, opts())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Manifests, []string{"pnpm-lock.yaml"}) || !slices.Contains(p.Fetch.Command, "--no-frozen-lockfile") {
		t.Errorf("manifests %q, command %q", p.Manifests, p.Fetch.Command)
	}
	if p.Scripts != nil {
		t.Errorf("no build is allowed, yet the plan has a scripts phase: %v", p.Scripts)
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		args  []string
		opts  func(*install.PlanOptions)
		want  string
	}{
		{"another command", nil, []string{"publish"}, nil, "not an install"},
		{"exec", nil, []string{"exec", "x"}, nil, "by design"},
		{"add without names", nil, []string{"add", "-D"}, nil, "needs the names"},
		{"add a link", nil, []string{"add", "x@link:../x"}, nil, "link:"},
		{"add a git spec", nil, []string{"add", "github:evil/x"}, nil, "git"},
		{"add a local path", nil, []string{"add", "../x"}, nil, "local path"},
		{"rebuild with names", nil, []string{"rebuild", "esbuild"}, nil, "takes no package names"},
		{"rebuild without a lockfile", nil, []string{"rebuild"}, nil, "needs pnpm-lock.yaml"},
		{"install's flags on add", nil, []string{"add", "--prod", "x"}, nil, "not passed"},
		{"a flag that moves things", nil, []string{"install", "--store-dir=/x"}, nil, "not passed"},
		{"frozen without a lockfile", nil, []string{"install", "--frozen-lockfile"}, nil, "needs pnpm-lock.yaml"},
		{"a pnpmfile", map[string]string{".pnpmfile.cjs": "module.exports = {}"}, []string{"install"}, nil, "--allow-pnpmfile"},
		// pnpm 10.13 and later load the pnpmfile.cjs of every config
		// dependency named pnpm-plugin-* (or @*/pnpm-plugin-*) by
		// themselves, in the fetch, where the registries are in reach.
		{"a config dependency's pnpmfile", map[string]string{"pnpm-workspace.yaml": "configDependencies:\n  pnpm-plugin-evil: \"1.0.0+sha512-30iZtAPgz+LTIYoeivqYo853f02jBYSd5uGnGpkFV0M3xOt9aN73erkgYAmZU43x4VfqcnLxW9Kpg3R5LC4YYw==\"\n"},
			[]string{"install"}, nil, "--allow-pnpmfile"},
		// A pnpmfile setting naming a file the host does not have (yet):
		// a config dependency puts it there in the sandbox.
		{"a pnpmfile only the sandbox has", map[string]string{"pnpm-workspace.yaml": "pnpmfile: node_modules/.pnpm-config/x/pnpmfile.cjs\n"},
			[]string{"install"}, nil, "--allow-pnpmfile"},
		{"a list of pnpmfiles", map[string]string{"pnpm-workspace.yaml": "pnpmfile:\n  - hooks/a.cjs\n"}, []string{"install"}, nil, "--allow-pnpmfile"},
		{"a hoisted layout", map[string]string{"pnpm-workspace.yaml": "nodeLinker: hoisted\n"}, []string{"install"}, nil, "nodeLinker"},
		{"no pnpm anywhere", nil, []string{"install"}, func(o *install.PlanOptions) { o.PNPMVersion = "" }, "packageManager"},
		{"an old pnpm", nil, []string{"install"}, func(o *install.PlanOptions) { o.PNPMVersion = "9.15.0" }, "pnpm 12 or later"},
		{"another manager", map[string]string{"package.json": `{"packageManager":"yarn@4.0.0"}`}, []string{"install"}, nil, "not pnpm"},
		{"a bad hash", map[string]string{"package.json": `{"packageManager":"pnpm@12.23.0+sha256.abc"}`}, []string{"install"}, nil, "sha512"},
		{"project scripts", map[string]string{"package.json": `{"scripts":{"postinstall":"husky"}}`}, []string{"install"}, nil, "own postinstall"},
		{"a workspace package's scripts", map[string]string{"pnpm-workspace.yaml": "packages: [pkgs/*]\n", "pkgs/a/package.json": `{"scripts":{"prepare":"tsc"}}`},
			[]string{"install"}, nil, "pkgs/a's own prepare"},
		{"a ** glob", map[string]string{"pnpm-workspace.yaml": "packages: ['pkgs/**']\n"}, []string{"install"}, nil, "**"},
		{"a glob out of the project", map[string]string{"pnpm-workspace.yaml": "packages: ['../*']\n"}, []string{"install"}, nil, "outside the project"},
		{"a workspace name the fetch cannot quote", map[string]string{"pnpm-workspace.yaml": "packages: ['pkgs/*']\n", "pkgs/a b/package.json": `{}`},
			[]string{"install"}, nil, "rename it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"package.json": `{"name":"p"}`}
			for k, v := range c.files {
				files[k] = v
			}
			o := opts()
			if c.opts != nil {
				c.opts(&o)
			}
			_, err := Manager{}.Plan(project(t, files), c.args, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
			if !errors.Is(err, install.ErrPolicy) && !errors.Is(err, install.ErrUnsupported) {
				t.Errorf("error %v is neither ErrPolicy nor ErrUnsupported", err)
			}
		})
	}
}

func TestPlanAllowedPnpmfileGoesIn(t *testing.T) {
	dir := project(t, map[string]string{"package.json": `{"name":"p"}`, ".pnpmfile.cjs": "module.exports = {}"})
	o := opts()
	o.AllowPnpmfile = true
	p, err := Manager{}.Plan(dir, []string{"install"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(p.Inputs, func(in install.Input) bool { return in.Name == ".pnpmfile.cjs" }) {
		t.Errorf("inputs %v lack the allowed pnpmfile", p.Inputs)
	}
	// The pnpmfile runs in the fetch, beside the cache of pnpm itself and
	// the store: what it writes there must reach no other project.
	if !p.PrivateCache {
		t.Error("a run whose fetch runs the project's pnpmfile shares the lasting cache")
	}
	plain, err := Manager{}.Plan(project(t, map[string]string{"package.json": `{"name":"p"}`}), []string{"install"}, opts())
	if err != nil || plain.PrivateCache {
		t.Errorf("a plain install (%v) does not use the lasting cache", err)
	}
}

func TestPackageManagerVersion(t *testing.T) {
	sum := strings.Repeat("ab", 64)
	v, s, err := pnpmVersion("pnpm@12.23.0+sha512."+sum, "11.0.0")
	if err != nil || v != "12.23.0" || s != sum {
		t.Fatalf("got %q %q %v", v, s, err)
	}
	if v, _, err := pnpmVersion("", "12.1.0\n"); err != nil || v != "12.1.0" {
		t.Fatalf("host version: %q %v", v, err)
	}
	if _, _, err := pnpmVersion("pnpm@12.0.0;rm -rf /", ""); err == nil {
		t.Fatal("a version that is no version was taken")
	}
}

func TestSessionDecidesByName(t *testing.T) {
	s := &session{scripts: true, pending: []string{"esbuild@0.23.1", "sharp@0.33.0", "sharp@0.32.0", "@scope/native@1.0.0(react@18.2.0)"},
		policy: policy{ScriptPolicy: install.ScriptPolicy{Allowed: []string{"esbuild", "sharp@0.33.0", "@scope/native"}}}}
	rebuild, held := s.decide()
	if !slices.Equal(rebuild, []string{"@scope/native", "esbuild"}) || !slices.Equal(held, []string{"sharp@0.33.0", "sharp@0.32.0"}) {
		t.Fatalf("rebuild %q, held %q", rebuild, held)
	}
	if n, v := splitDepPath("@scope/native@1.0.0(react@18.2.0)"); n != "@scope/native" || v != "1.0.0" {
		t.Fatalf("splitDepPath: %q %q", n, v)
	}
	if got := storePrefix("@scope/native@1.0.0(react@18.2.0)"); got != "@scope+native@1.0.0" {
		t.Fatalf("storePrefix: %q", got)
	}
}

func TestOutputNamesTheBuilds(t *testing.T) {
	log := ".../esbuild@0.23.1/node_modules/esbuild postinstall$ node install.js\n" +
		".../esbuild@0.23.1/node_modules/esbuild postinstall: Done\n" +
		".../@s+n@1.0.0_react@18.2.0/node_modules/@s/n install$ node-gyp rebuild\n" +
		".../@s+n@1.0.0_react@18.2.0/node_modules/@s/n install: Failed\n"
	runs := pnpmOutput{}.Scripts(log)
	if len(runs) != 2 || runs[0].Package != "esbuild@0.23.1" || runs[0].Event != "postinstall" || runs[0].Command != "node install.js" || runs[1].Package != "@s/n@1.0.0" {
		t.Fatalf("runs %+v", runs)
	}
	if pkg, cmd := (pnpmOutput{}).Failure(log); pkg != "@s/n@1.0.0" || cmd != "node-gyp rebuild" {
		t.Fatalf("failure %q %q", pkg, cmd)
	}
}

// A workspace: every package's package.json goes in, its node_modules
// comes back beside the root's, a link may point at its directory, and
// the builds rebuild across the workspace.
func TestPlanWorkspace(t *testing.T) {
	dir := project(t, map[string]string{
		"package.json":               `{"name":"root","private":true}`,
		"pnpm-lock.yaml":             "lockfileVersion: '9.0'\n",
		"pnpm-workspace.yaml":        "packages:\n  - packages/*\n  - '!packages/skip'\n  - tools/cli\nallowBuilds:\n  esbuild: true\n",
		"packages/a/package.json":    `{"name":"a"}`,
		"packages/b/package.json":    `{"name":"b","dependencies":{"a":"workspace:*"}}`,
		"packages/skip/package.json": `{"name":"skip"}`,
		"packages/none/README.md":    "no package.json: not a workspace package",
		"tools/cli/package.json":     `{"name":"cli"}`,
	})
	p, err := Manager{}.Plan(dir, []string{"install", "--frozen-lockfile"}, opts())
	if err != nil {
		t.Fatal(err)
	}
	names := inputNames(p)
	for _, want := range []string{"packages/a/package.json", "packages/b/package.json", "tools/cli/package.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("inputs %q lack %s", names, want)
		}
	}
	if slices.Contains(names, "packages/skip/package.json") {
		t.Errorf("the excluded package went in: %q", names)
	}
	if want := []string{"node_modules", "packages/a/node_modules", "packages/b/node_modules", "tools/cli/node_modules"}; !slices.Equal(p.Artifacts, want) {
		t.Errorf("artifacts %q, want %q", p.Artifacts, want)
	}
	if want := []string{"packages/a", "packages/b", "tools/cli"}; !slices.Equal(p.LinkTargets, want) {
		t.Errorf("link targets %q, want %q", p.LinkTargets, want)
	}
	if got := p.Fetch.Env["SAFE_INSTALL_MODULES"]; got != "packages/a/node_modules packages/b/node_modules tools/cli/node_modules" {
		t.Errorf("the fetch makes and lists %q", got)
	}
	if p.Scripts == nil || !slices.Contains(p.Scripts.Command, "--recursive") {
		t.Errorf("scripts phase %v does not rebuild the whole workspace", p.Scripts)
	}
}

// A workspace package reached through a link would have its node_modules
// swapped in outside the project.
func TestPlanRefusesALinkedWorkspacePackage(t *testing.T) {
	elsewhere := project(t, map[string]string{"package.json": `{"name":"x"}`})
	dir := project(t, map[string]string{
		"package.json":        `{"name":"root","private":true}`,
		"pnpm-workspace.yaml": "packages: [packages/*]\n",
	})
	if err := os.MkdirAll(filepath.Join(dir, "packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "packages", "x")); err != nil {
		t.Fatal(err)
	}
	_, err := Manager{}.Plan(dir, []string{"install"}, opts())
	if !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), "outside the project") {
		t.Fatalf("error %v, want the linked package refused", err)
	}
}

// pnpm add, remove and update bring package.json and pnpm-lock.yaml back
// from the fetch; rebuild reinstalls from the lockfile and changes none.
func TestPlanVerbs(t *testing.T) {
	for _, c := range []struct {
		args      []string
		fetch     string
		manifests []string
	}{
		{[]string{"add", "-D", "-E", "esbuild@0.23.1", "@scope/x"}, "add --ignore-scripts --store-dir=/cache/pnpm-store --cache-dir=/cache/pnpm-metadata --package-import-method=copy -D -E --no-frozen-lockfile esbuild@0.23.1 @scope/x", []string{"package.json", "pnpm-lock.yaml"}},
		{[]string{"remove", "left-pad"}, "remove --ignore-scripts --store-dir=/cache/pnpm-store --cache-dir=/cache/pnpm-metadata --package-import-method=copy --no-frozen-lockfile left-pad", []string{"package.json", "pnpm-lock.yaml"}},
		{[]string{"up", "--latest"}, "update --ignore-scripts --store-dir=/cache/pnpm-store --cache-dir=/cache/pnpm-metadata --package-import-method=copy --latest --no-frozen-lockfile", []string{"package.json", "pnpm-lock.yaml"}},
		{[]string{"rebuild"}, "install --ignore-scripts --store-dir=/cache/pnpm-store --cache-dir=/cache/pnpm-metadata --package-import-method=copy --frozen-lockfile", nil},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			dir := project(t, map[string]string{"package.json": `{"name":"p"}`, "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"})
			p, err := Manager{}.Plan(dir, c.args, opts())
			if err != nil {
				t.Fatal(err)
			}
			if cmd := strings.Join(p.Fetch.Command, " "); !strings.HasSuffix(cmd, " "+c.fetch) {
				t.Errorf("fetch command %q, want it to end with %q", cmd, c.fetch)
			}
			if !slices.Equal(p.Manifests, c.manifests) {
				t.Errorf("manifests %q, want %q", p.Manifests, c.manifests)
			}
		})
	}
}

func inputNames(p *install.Plan) []string {
	var names []string
	for _, in := range p.Inputs {
		names = append(names, in.Name)
	}
	return names
}
