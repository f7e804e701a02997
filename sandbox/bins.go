package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// shadowedBins are commands a bin of the same name would hijack when a
// project script calls them (npm puts node_modules/.bin first in PATH).
var shadowedBins = set("node", "npm", "npx", "git", "sh", "bash", "sudo", "python", "python3", "pip", "pip3", "curl", "ssh")

// checkNPMBins holds every node_modules/.bin entry in the staged tree to
// what npm's bin-linking makes: a relative symlink to ../<pkg>/<file>
// where <pkg>'s package.json declares <file> as the bin of that name.
// `npm run` executes these on the host later, so a shim a script wrote or
// redirected is deferred host execution (THREATS RT-16, F7). It returns the
// bins that shadow common commands, for a warning.
func checkNPMBins(staging string) (shadowing []string, err error) {
	root := filepath.Join(staging, "node_modules")
	werr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != ".bin" {
			return err
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			rel, _ := filepath.Rel(staging, filepath.Join(p, e.Name()))
			pkg, reason := checkBin(filepath.Dir(p), e)
			if reason != "" {
				return &ArtifactError{Path: filepath.ToSlash(rel), Reason: reason}
			}
			if shadowedBins[e.Name()] {
				shadowing = append(shadowing, fmt.Sprintf("%s (from %s)", filepath.ToSlash(rel), pkg))
			}
		}
		return filepath.SkipDir
	})
	return shadowing, werr
}

// checkBin checks one .bin entry of the node_modules directory nm and
// returns the package it belongs to, or why it is refused.
func checkBin(nm string, e fs.DirEntry) (string, string) {
	if e.Type()&fs.ModeSymlink == 0 {
		return "", "not a symlink: npm links bins, so an install script wrote this file"
	}
	target, err := os.Readlink(filepath.Join(nm, ".bin", e.Name()))
	if err != nil {
		return "", err.Error()
	}
	rest, ok := strings.CutPrefix(target, "../")
	if !ok {
		return "", fmt.Sprintf("points at %q, outside the packages", target)
	}
	parts := strings.SplitN(rest, "/", 3)
	pkg, file := parts[0], ""
	if strings.HasPrefix(pkg, "@") && len(parts) == 3 {
		pkg, file = parts[0]+"/"+parts[1], parts[2]
	} else if len(parts) >= 2 {
		file = strings.Join(parts[1:], "/")
	}
	bins, binDir, err := declaredBins(filepath.Join(nm, filepath.FromSlash(pkg)))
	if err != nil {
		return pkg, fmt.Sprintf("points into %s, whose package.json cannot be read: %v", pkg, err)
	}
	// directories.bin: every file in that directory is a bin of its name.
	inBinDir := binDir != "" && strings.HasPrefix(path.Clean(file), path.Clean(binDir)+"/") && path.Base(file) == e.Name()
	if want, ok := bins[e.Name()]; !inBinDir && (!ok || path.Clean(want) != path.Clean(file)) {
		return pkg, fmt.Sprintf("points at %q, which %s does not declare as its bin %q", target, pkg, e.Name())
	}
	return pkg, ""
}

// declaredBins reads a package's bin field (a string or a map) as
// name -> file, and its directories.bin.
func declaredBins(dir string) (map[string]string, string, error) {
	f, err := os.OpenFile(filepath.Join(dir, "package.json"), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	var m struct {
		Name        string          `json:"name"`
		Bin         json.RawMessage `json:"bin"`
		Directories struct {
			Bin string `json:"bin"`
		} `json:"directories"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 8<<20)).Decode(&m); err != nil {
		return nil, "", err
	}
	bins := map[string]string{}
	var one string
	if json.Unmarshal(m.Bin, &one) == nil && one != "" {
		bins[path.Base(m.Name)] = one
	} else {
		_ = json.Unmarshal(m.Bin, &bins)
	}
	return bins, m.Directories.Bin, nil
}
