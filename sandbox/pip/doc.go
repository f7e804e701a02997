// Package pip is pip's part in a sandboxed install: how `pip install`
// becomes a install.Plan (the requirements, the index and its
// credentials), pip's output, and the session that installs the built
// wheels into the host's Python with the host's pip, after package wheel
// judged every file each wheel would place.
//
// It imports neither the engine nor Podman: the pipeline (package
// sandbox) runs the containers and calls the session's hooks.
package pip
