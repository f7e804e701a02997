package npm

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// packageDir is the directory of the innermost package that holds an
// archive path: "node_modules/a/node_modules/@s/b/lib/x.js" gives
// "node_modules/a/node_modules/@s/b".
func packageDir(entry string) string {
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

// packageOf is the package name that holds an archive path, or "".
func packageOf(entry string) string {
	dir := packageDir(entry)
	if dir == "" {
		return ""
	}
	i := strings.LastIndex(dir, "node_modules/")
	return dir[i+len("node_modules/"):]
}

// stagedVersion reads the version from a staged package.json, refusing to
// follow a symlink or to read more than a manifest's worth.
func stagedVersion(dir string) string {
	f, err := os.OpenFile(filepath.Join(dir, "package.json"), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	var m struct{ Version string }
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&m) != nil {
		return ""
	}
	return m.Version
}
