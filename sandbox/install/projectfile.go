package install

import (
	"errors"
	"fmt"

	"github.com/safe-install/safe-install/sandbox/internal/beneath"
)

// MaxProjectFile bounds a project file a plan reads to parse (a manifest,
// a lockfile, an .npmrc, a requirements file): a lockfile of a large
// monorepo is tens of megabytes.
const MaxProjectFile = 64 << 20

// ReadProjectFile reads the project's file rel (slash-separated) as the
// copy-in reads its inputs: below the project's directory through
// directories alone, a regular file, at most MaxProjectFile bytes. A plan
// reads what it parses this way, so that no file elsewhere is read at all
// through the project (a cloned repository's requirements.txt that links
// to ~/.aws/credentials would otherwise go into the sandbox as the parsed
// requirements) and a FIFO or /dev/zero named package.json ends the run at
// once instead of holding it. An absent file's error is fs.ErrNotExist.
func ReadProjectFile(project, rel string) ([]byte, error) {
	root, err := beneath.OpenRoot(project)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := root.ReadFile(rel, MaxProjectFile)
	switch {
	case errors.Is(err, beneath.ErrRefused):
		return nil, fmt.Errorf("%w: reading %s: %w; only the project's own files, reached through its directories, are read: "+
			"replace the link by the file, then run again", ErrPolicy, rel, err)
	case errors.Is(err, beneath.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrLimit, err)
	}
	return data, err
}
