package engine

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
)

// confFiles names where a containers.conf setting comes from, for the
// error that asks the user to remove it.
const confFiles = "containers.conf (CONTAINERS_CONF, CONTAINERS_CONF_OVERRIDE, " +
	"~/.config/containers/containers.conf, /etc/containers/containers.conf, " +
	"/usr/share/containers/containers.conf or a containers.conf.d drop-in beside them)"

// imageEnv is the image's own environment: Create names it because it
// unsets everything else (containers.conf's env).
// The answer is a fresh copy, the caller's to change.
func (p *Podman) imageEnv(ctx context.Context, image string) (map[string]string, error) {
	if env, ok := p.imageEnvs.Load(image); ok {
		return maps.Clone(env.(map[string]string)), nil
	}
	img, err := images.GetImage(p.ctx(ctx), image, nil)
	if err != nil {
		return nil, fmt.Errorf("inspecting image %s: %w", image, err)
	}
	env := map[string]string{}
	if img.ImageData != nil && img.Config != nil {
		for _, kv := range img.Config.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	if _, ok := env["PATH"]; !ok {
		// What Podman gives an image without one (and no longer can:
		// its defaults go with containers.conf's).
		env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	p.imageEnvs.Store(image, env)
	return maps.Clone(env), nil
}

// checkCreated refuses a created container that carries an annotation
// containers.conf adds to every container (its annotations setting; no
// spec field takes it away) when it is not one Podman records itself: the
// OCI runtime may act on it (crun's run.oci.*: a VM handler, the host
// user's groups kept, a seccomp listener's socket). The inspect data shows
// these on any engine, remote ones too; it does not show containers.conf's
// volumes or devices (measured, 4.3.1), which checkContainersConf reads.
func (p *Podman) checkCreated(ctx context.Context, id string) error {
	data, err := containers.Inspect(p.ctx(ctx), id, nil)
	if err != nil {
		return fmt.Errorf("inspecting the new container: %w", err)
	}
	if data.Config == nil {
		return nil
	}
	for k := range data.Config.Annotations {
		if !podmanAnnotation(k) {
			return fmt.Errorf("%w: the engine adds the annotation %q to every container: the annotations setting of %s "+
				"puts it there, and the OCI runtime may act on it (crun's run.oci.* do). Remove that entry, or run "+
				"safe-install with CONTAINERS_CONF naming a file without it", ErrEngineConfig, k, confFiles)
		}
	}
	return nil
}

// podmanAnnotation says whether an annotation key is one Podman itself
// records on a container (4.3 and 5.x), which no runtime acts on.
func podmanAnnotation(k string) bool {
	// org.systemd.property.*: Podman 5 records the stop signal's there
	// (seen on 5.4.2's containers once started).
	for _, prefix := range []string{"io.podman.annotations.", "io.container.manager", "org.opencontainers.image.",
		"org.systemd.property."} {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
