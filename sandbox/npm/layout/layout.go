// Package layout is npm's record of a node_modules tree (package-lock.json
// and node_modules/.package-lock.json) and where an entry sits in such a
// tree: what the copy-back rule (package npm) and the incremental install
// (package incremental) both read.
package layout

import (
	"slices"
	"strings"
)

// MaxLockfile bounds the lockfile read on the host: the largest real
// ones are a few MB.
const MaxLockfile = 64 << 20

// Lockfile is npm's record of a tree, as package-lock.json,
// npm-shrinkwrap.json and node_modules/.package-lock.json have it (version
// 2 and 3; version 1 has no packages).
type Lockfile struct {
	Version  int                `json:"lockfileVersion"`
	Packages map[string]Package `json:"packages"`
}

// WithoutScripts says the lockfile vouches that no dependency has install
// scripts: npm 7+ lockfiles (version 2 and 3) mark every package that has
// them, the implicit node-gyp one included, with hasInstallScript.
func (l Lockfile) WithoutScripts() bool {
	if l.Version < 2 || len(l.Packages) == 0 {
		return false
	}
	for k, p := range l.Packages {
		if k != "" && p.HasInstallScript {
			return false
		}
	}
	return true
}

// Package is a location's entry in a Lockfile ("node_modules/a").
type Package struct {
	Name             string `json:"name"`
	Version          string `json:"version"`
	Resolved         string `json:"resolved"`
	Integrity        string `json:"integrity"`
	Link             bool   `json:"link"`
	HasInstallScript bool   `json:"hasInstallScript"`
	// Bin is the package's bins as npm normalised them: name -> file.
	Bin map[string]string `json:"bin"`
}

// Position is where an entry sits in a node_modules tree, which decides
// who may change it.
type Position uint8

const (
	PosModules  Position = iota // a node_modules directory, or a @scope directory in one
	PosPackage                  // where Node looks for a package: node_modules/<name>, node_modules/@s/<name>
	PosOwn                      // inside a package's own directory
	PosBinDir                   // a node_modules/.bin directory
	PosBin                      // an entry of a node_modules/.bin directory
	PosLockfile                 // npm's record of the tree, node_modules/.package-lock.json
	PosOutside                  // a hidden entry of a node_modules directory: outside every package
	PosProject                  // the project's own files in the sandbox (outside node_modules)
)

// Locate finds an entry's position and, for PosPackage and PosOwn, the
// directory of the package. Names are slash-separated and start with
// node_modules (the artifact root).
func Locate(name string) (Position, string) {
	if name != "node_modules" && !strings.HasPrefix(name, "node_modules/") {
		return PosProject, ""
	}
	parts := strings.Split(name, "/")
	modules := 0 // index of the innermost node_modules component
	for {
		rest := parts[modules+1:]
		if len(rest) == 0 {
			return PosModules, ""
		}
		end := modules + 2 // one past the package's own directory
		switch first := rest[0]; {
		case first == ".bin" && len(rest) == 1:
			return PosBinDir, ""
		case first == ".bin":
			return PosBin, ""
		case first == ".package-lock.json" && len(rest) == 1:
			return PosLockfile, ""
		case strings.HasPrefix(first, "."):
			return PosOutside, ""
		case strings.HasPrefix(first, "@") && len(rest) == 1:
			return PosModules, ""
		case strings.HasPrefix(first, "@"):
			end++
		}
		pkg := strings.Join(parts[:end], "/")
		if len(parts) == end {
			return PosPackage, pkg
		}
		i := slices.Index(parts[end:], "node_modules")
		if i < 0 {
			return PosOwn, pkg
		}
		modules = end + i
	}
}

// PositionOf is Locate's position alone.
func PositionOf(name string) Position {
	pos, _ := Locate(name)
	return pos
}

// CheckAll judges a listing, node_modules first: a package tampered with
// PackageDir is the directory of the innermost package that holds an
// archive path: "node_modules/a/node_modules/@s/b/lib/x.js" gives
// "node_modules/a/node_modules/@s/b".
func PackageDir(entry string) string {
	parts := strings.Split(strings.Trim(entry, "/"), "/")
	end := -1
	for i := 0; i < len(parts)-1; i++ {
		if parts[i] != "node_modules" {
			continue
		}
		switch {
		case strings.HasPrefix(parts[i+1], "@") && i+2 < len(parts):
			end = i + 3
		case !strings.HasPrefix(parts[i+1], "."):
			end = i + 2
		}
	}
	if end < 0 {
		return ""
	}
	return strings.Join(parts[:end], "/")
}

// PackageOf is the package name that holds an archive path, or "".
func PackageOf(entry string) string {
	dir := PackageDir(entry)
	if dir == "" {
		return ""
	}
	i := strings.LastIndex(dir, "node_modules/")
	return dir[i+len("node_modules/"):]
}
