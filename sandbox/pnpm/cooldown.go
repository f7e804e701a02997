package pnpm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
)

// maxLock bounds pnpm-lock.yaml read on the host: the largest real ones
// are a few MB.
const maxLock = 64 << 20

// checkReleaseAge applies --min-release-age to pnpm-lock.yaml as the fetch
// left it, before any third-party code runs: the publication times come
// from the registries' packuments, as for npm (npm.ReleaseAge).
func (s *session) checkReleaseAge(ctx context.Context, f install.Files, say install.Say) error {
	data, err := f.Read(ctx, install.WorkDir+"/pnpm-lock.yaml", maxLock)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: --min-release-age needs pnpm-lock.yaml, and this install writes none", install.ErrPolicy)
	}
	if err != nil {
		return err
	}
	pkgs, err := lockedPackages(data, s.defaultRegistry)
	if err != nil {
		return err
	}
	say.Note("checking publication times of %s (--min-release-age %s)", install.Plural(len(pkgs), "package"), s.cooldown)
	return npm.ReleaseAge{Min: s.cooldown}.CheckPackages(ctx, pkgs, s.registries)
}

// lockedPackages lists pnpm-lock.yaml's registry packages. The keys of its
// packages map are name@version (with a leading "/" before lockfile 9); a
// resolution with a type (git, directory) or a tarball that is not under
// a registry's NAME/-/ is not a registry package, and has no publication
// time to check. Without a tarball, the package came from the default
// registry (pnpm leaves the URL out when it is the registry's own).
func lockedPackages(data []byte, defaultRegistry string) ([]npm.Locked, error) {
	var lock struct {
		Packages map[string]struct {
			Resolution struct {
				Type    string `yaml:"type"`
				Tarball string `yaml:"tarball"`
			} `yaml:"resolution"`
		} `yaml:"packages"`
	}
	if err := yaml.Unmarshal(data, &lock); err != nil {
		return nil, fmt.Errorf("%w: pnpm-lock.yaml after the fetch does not parse: %w", install.ErrPolicy, err)
	}
	seen := map[string]bool{}
	var out []npm.Locked
	for key, p := range lock.Packages {
		key = strings.TrimPrefix(key, "/")
		key, _, _ = strings.Cut(key, "(") // peers
		i := strings.LastIndex(key, "@")
		if i <= 0 || p.Resolution.Type != "" {
			continue
		}
		name, version := key[:i], key[i+1:]
		if strings.ContainsAny(version, ":/") {
			continue // a file:, link: or URL spec, not a registry version
		}
		reg := defaultRegistry
		if t := p.Resolution.Tarball; t != "" {
			j := strings.Index(t, "/"+name+"/-/")
			if j < 0 || !(strings.HasPrefix(t, "https://") || strings.HasPrefix(t, "http://")) {
				continue
			}
			reg = t[:j+1]
		}
		if !seen[name+"@"+version] {
			seen[name+"@"+version] = true
			out = append(out, npm.Locked{Name: name, Version: version, Registry: reg})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+"@"+out[i].Version < out[j].Name+"@"+out[j].Version })
	return out, nil
}
