//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Corpus case F8 (testdata/corpus/README.md): a project .npmrc that points
// the registry at a listener and asks for ${NPM_TOKEN} there is refused
// before anything runs, and the listener never sees the token.
func TestE2EProjectRegistryRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"F8", "project .npmrc adds a registry with a token", "plan: registry allowlist (exit 14)"})
	w := newWorld(t)
	w.project()
	port := w.listener.port
	rc := fmt.Sprintf("registry=http://127.0.0.1:%d/\n//127.0.0.1:%d/:_authToken=${NPM_TOKEN}\n", port, port)
	must(t, os.WriteFile(filepath.Join(w.proj, ".npmrc"), []byte(rc), 0o644))
	before := w.snapshot()
	r := w.run("npm", "install", "left-pad@1.3.0")
	w.expect(r, exitPolicy, ".npmrc", "registry=", "--allow-registry")
	w.assertListenerSilent()
	w.assertSame(before, w.snapshot())
}

// A lockfile whose tarball URL points at a host outside the allowlist is
// refused before anything is fetched, naming the package and the host.
func TestE2ELockfileHostRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"F8", "lockfile tarball on another host", "plan: resolved-host check (exit 14)"})
	w := newWorld(t)
	w.project()
	lock := fmt.Sprintf(`{"name": "proj", "lockfileVersion": 3, "packages": {"": {"dependencies": {"left-pad": "1.3.0"}},
  "node_modules/left-pad": {"version": "1.3.0", "resolved": "http://127.0.0.1:%d/left-pad/-/left-pad-1.3.0.tgz"}}}`, w.listener.port)
	must(t, os.WriteFile(filepath.Join(w.proj, "package-lock.json"), []byte(lock), 0o644))
	r := w.run("npm", "ci")
	w.expect(r, exitPolicy, "left-pad", fmt.Sprintf("127.0.0.1:%d", w.listener.port))
	w.assertListenerSilent()
}

// RT-60 (a): a git dependency (here an optional one, TanStack-style, on a
// loopback git URL) could run its prepare script while npm fetches it: it
// is refused before anything runs, naming the package, the URL and the
// flag that allows it. Nothing reaches the git URL's port.
func TestE2EGitDependencyRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-60", "npm: git dependency with prepare (fetch-phase code)", "refused before the fetch (exit 14)"})
	w := newWorld(t)
	w.project("victim")
	url := fmt.Sprintf("git+http://127.0.0.1:%d/evil.git#0123456789abcdef0123456789abcdef01234567", w.listener.port)
	w.setManifest("optionalDependencies", map[string]string{"evil-git": url})
	w.failsUnchanged([]string{"npm", "install"}, exitPolicy, "evil-git", "git+http://127.0.0.1", "--allow-git")
	w.assertListenerSilent()
}
