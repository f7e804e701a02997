package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// HostPATH is PATH without the directories that packages write, for the
// commands safe-install runs on the host: Podman, and what Podman runs in
// turn (conmon, crun, newuidmap, slirp4netns), and pnpm. Those are the
// node_modules/.bin of the working directory and of each directory above
// it (npm run and npx put them first, and npm links there any bin a
// package declares, podman included: measured, a planted
// node_modules/.bin/podman was the private service's), any directory in
// the working directory (the project), the active virtual environment's
// bin (a wheel's console scripts) and a relative one.
func HostPATH() string {
	cwd, _ := os.Getwd()
	return hostPATH(os.Getenv("PATH"), os.Getenv("VIRTUAL_ENV"), cwd)
}

func hostPATH(path, venv, cwd string) string {
	var keep []string
	for _, d := range filepath.SplitList(path) {
		d = filepath.Clean(d)
		if !filepath.IsAbs(d) || (venv != "" && d == filepath.Join(venv, "bin")) || packageBin(d, filepath.Clean(cwd)) {
			continue
		}
		keep = append(keep, d)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// packageBin says whether d is in cwd, or is the node_modules/.bin of cwd
// or of a directory above it.
func packageBin(d, cwd string) bool {
	if !filepath.IsAbs(cwd) {
		return false
	}
	if within(d, cwd) {
		return true
	}
	if filepath.Base(d) != ".bin" || filepath.Base(filepath.Dir(d)) != "node_modules" {
		return false
	}
	return within(cwd, filepath.Dir(filepath.Dir(d)))
}

// within says whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
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
