package npm

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

type npmManifest struct {
	Name                 string            `json:"name"`
	Dependencies         map[string]string `json:"dependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	PeerDependencies     map[string]string `json:"peerDependencies"`
	Workspaces           json.RawMessage   `json:"workspaces"`
	Scripts              map[string]string `json:"scripts"`
}

// workspaces reads both forms: ["packages/*"] and {"packages": [...]}.
func (m npmManifest) workspaces() []string {
	var list []string
	if json.Unmarshal(m.Workspaces, &list) == nil {
		return list
	}
	var obj struct{ Packages []string }
	_ = json.Unmarshal(m.Workspaces, &obj)
	return obj.Packages
}

func (m npmManifest) allDependencies() map[string]string {
	all := map[string]string{}
	for _, deps := range []map[string]string{m.Dependencies, m.DevDependencies, m.OptionalDependencies, m.PeerDependencies} {
		for k, v := range deps {
			all[k] = v
		}
	}
	return all
}

// remoteSpec says whether an npm spec fetches from git or an arbitrary URL
// rather than a registry. Git dependencies run `prepare` while packing
// (corpus case F1, cmd/safe-install/testdata/corpus/README.md); URLs
// bypass the registry allowlist.
func remoteSpec(spec string) bool {
	s := spec
	if i := strings.Index(s, "@npm:"); i >= 0 {
		s = s[i+5:]
	}
	for _, p := range []string{"git+", "git:", "git@", "github:", "gitlab:", "bitbucket:", "gist:", "http://", "https://", "ssh://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	// "user/repo" (GitHub shorthand), but not "@scope/name".
	return !strings.HasPrefix(s, "@") && !strings.HasPrefix(s, "file:") && !strings.HasPrefix(s, ".") &&
		!strings.HasPrefix(s, "/") && strings.Contains(s, "/") && !strings.Contains(s, "@")
}

// CheckSpec refuses a package spec the fetch must not take unasked: a git
// or URL source (unless allowGit), a local path. pnpm takes npm's specs.
func CheckSpec(spec string, allowGit bool) error {
	// A spec is "name", "name@range" or a URL-ish source; only the source
	// part after name@ matters.
	src := spec
	if at := strings.LastIndex(spec, "@"); at > 0 {
		src = spec[at+1:]
	}
	if !allowGit && (remoteSpec(spec) || remoteSpec(src)) {
		return fmt.Errorf("%w: %q is a git or URL dependency: it can run code while it is fetched; rerun with --allow-git if you trust it", install.ErrPolicy, spec)
	}
	if strings.HasPrefix(src, "file:") || strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "/") {
		return fmt.Errorf("%w: %q is a local path; add it to package.json as a file: dependency inside the project instead", install.ErrPolicy, spec)
	}
	return nil
}

// checkNPMDependencies refuses git and URL dependencies in package.json and
// the lockfile unless the user allowed them.
func checkNPMDependencies(m npmManifest, l layout.Lockfile, allowGit bool) error {
	if allowGit {
		return nil
	}
	deps := m.allDependencies()
	for _, n := range slices.Sorted(maps.Keys(deps)) {
		if remoteSpec(deps[n]) {
			return fmt.Errorf("%w: dependency %s is %q, a git or URL source: it can run code while it is fetched; rerun with --allow-git if you trust it", install.ErrPolicy, n, deps[n])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(l.Packages)) {
		r := l.Packages[k].Resolved
		if strings.HasPrefix(r, "git") || strings.HasPrefix(r, "ssh:") || strings.HasPrefix(r, "github:") {
			return fmt.Errorf("%w: lockfile entry %s resolves to %q, a git source: it can run code while it is fetched; rerun with --allow-git if you trust it", install.ErrPolicy, k, r)
		}
	}
	return nil
}

func mustParse(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// checkProjectRegistries refuses registries that only the project's .npmrc
// names: a pull request can change that file (corpus F8).
func checkProjectRegistries(projectOnly map[string]string, allowed []string) error {
	for _, u := range slices.Sorted(maps.Keys(projectOnly)) {
		ok := false
		for _, a := range allowed {
			ok = ok || registryScope(a) == registryScope(u)
		}
		if !ok {
			return fmt.Errorf("%w: the project's .npmrc sets %s=%s, a registry your own npm config does not name; "+
				"a pull request can change that file, so rerun with --allow-registry %s if you trust it", install.ErrPolicy, projectOnly[u], u, u)
		}
	}
	return nil
}

// checkResolvedHosts refuses a lockfile entry whose tarball lives outside
// the allowlist before anything is fetched, naming the package and host.
func checkResolvedHosts(l layout.Lockfile, lock string, regs []egress.Registry) error {
	for _, k := range slices.Sorted(maps.Keys(l.Packages)) {
		r := l.Packages[k].Resolved
		if !strings.HasPrefix(r, "http://") && !strings.HasPrefix(r, "https://") {
			continue
		}
		u, err := url.Parse(r)
		if err != nil {
			return fmt.Errorf("%w: %s entry %s: bad resolved URL %q", install.ErrPolicy, lock, k, r)
		}
		if _, ok := egress.Match(regs, u); !ok {
			return fmt.Errorf("%w: %s entry %s (%s) resolves to host %s, which is not an allowed registry; "+
				"allow it with --allow-registry %s://%s/ if you trust it", install.ErrPolicy, lock, k, layout.PackageOf(k+"/x"), u.Host, u.Scheme, u.Host)
		}
	}
	return nil
}

// workspaceInputs lists each workspace's package.json.
func workspaceInputs(project string, patterns []string) ([]install.Input, error) {
	var out []install.Input
	for _, pat := range patterns {
		if !fs.ValidPath(path.Clean(pat)) {
			return nil, fmt.Errorf("%w: workspace %q is outside the project", install.ErrPolicy, pat)
		}
		matches, err := filepath.Glob(filepath.Join(project, filepath.FromSlash(pat), "package.json"))
		if err != nil {
			return nil, fmt.Errorf("workspace pattern %q: %w", pat, err)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(project, m)
			out = append(out, install.Input{Name: filepath.ToSlash(rel), Source: m, Mode: 0o644})
		}
	}
	return out, nil
}

// localDependencyInputs copies the targets of file: dependencies: tarballs
// as they are, directories without node_modules and .git. Only paths
// inside the project are taken. links are the directories, which npm links
// into node_modules.
func localDependencyInputs(project string, m npmManifest, l layout.Lockfile) (out []install.Input, links []string, err error) {
	targets := map[string]bool{}
	for _, spec := range m.allDependencies() {
		if strings.HasPrefix(spec, "file:") {
			targets[strings.TrimPrefix(spec, "file:")] = true
		}
	}
	for _, pkg := range l.Packages {
		if strings.HasPrefix(pkg.Resolved, "file:") {
			targets[strings.TrimPrefix(pkg.Resolved, "file:")] = true
		}
	}
	for _, t := range slices.Sorted(maps.Keys(targets)) {
		rel := path.Clean(filepath.ToSlash(t))
		if !fs.ValidPath(rel) || rel == "." {
			return nil, nil, fmt.Errorf("%w: file: dependency %q is outside the project; only paths inside it are copied into the sandbox", install.ErrPolicy, t)
		}
		host := filepath.Join(project, filepath.FromSlash(rel))
		fi, err := os.Lstat(host)
		if err != nil {
			return nil, nil, fmt.Errorf("file: dependency %q: %w", t, err)
		}
		switch {
		case fi.Mode().IsRegular():
			out = append(out, install.Input{Name: rel, Source: host, Mode: 0o644})
		case fi.IsDir():
			links = append(links, rel)
			dir, err := install.DirInputs(project, host)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, dir...)
		default:
			return nil, nil, fmt.Errorf("%w: file: dependency %q is neither a file nor a directory", install.ErrPolicy, t)
		}
	}
	return out, links, nil
}
