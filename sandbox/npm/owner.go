package npm

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

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
