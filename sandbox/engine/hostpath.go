package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// HostPATH is PATH without the directories that packages write, for the
// commands safe-install runs on the host: Podman, and what Podman runs in
// turn (conmon, crun, newuidmap, slirp4netns). Those are a directory with
// a node_modules in its path (npm run and npx put the project's
// node_modules/.bin first, where npm links any bin a package declares,
// podman included: measured, a planted node_modules/.bin/podman was the
// private service's), the active virtual environment's bin (a wheel's
// console scripts) and a relative one (the working directory is the
// project).
func HostPATH() string {
	venvBin := ""
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		venvBin = filepath.Join(v, "bin")
	}
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(d) || slices.Contains(strings.Split(filepath.Clean(d), "/"), "node_modules") || filepath.Clean(d) == venvBin {
			continue
		}
		keep = append(keep, d)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// LookHost is exec.LookPath in HostPATH.
func LookHost(name string) (string, error) {
	for _, d := range filepath.SplitList(HostPATH()) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
