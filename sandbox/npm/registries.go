package npm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
)

// RegistrySetup is the user's and the project's .npmrc as a plan uses
// them: npm and pnpm read the same files, so both sandbox them alike.
type RegistrySetup struct {
	// ProjectRC is the project's .npmrc without what could undo the
	// sandbox, for /work/.npmrc in every phase (nil: none is needed).
	ProjectRC []byte
	// FetchRC is the fetch container's config: the user's non-secret
	// settings and the relay to the egress proxy, never a credential.
	FetchRC []byte
	// Registries are all the fetch may reach, with the credentials the
	// egress proxy adds on the host.
	Registries []egress.Registry
	// Default is the registry of a package whose lockfile entry names no
	// URL (pnpm leaves its registry's own out).
	Default string
}

// Registries reads and sanitises the user's and the project's .npmrc and
// refuses a registry that only the project's names (corpus F8) unless
// opts.AllowRegistries trusts it.
func Registries(project string, opts install.PlanOptions) (RegistrySetup, error) {
	userRC, _ := os.ReadFile(userNpmrc(opts))
	projectRC, err := install.ReadProjectFile(project, ".npmrc")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return RegistrySetup{}, fmt.Errorf("reading the project's .npmrc: %w", err)
	}
	cfg := sanitizeNpmrc(userRC, projectRC, opts.Env, opts.Warn)
	if err := checkProjectRegistries(cfg.projectOnly, opts.AllowRegistries); err != nil {
		return RegistrySetup{}, err
	}
	s := RegistrySetup{Registries: cfg.registries, Default: cfg.def}
	for _, a := range opts.AllowRegistries {
		if _, ok := egress.Match(s.Registries, mustParse(a)); !ok {
			s.Registries = append(s.Registries, egress.Registry{URL: a})
		}
	}
	if len(cfg.project) > 0 {
		s.ProjectRC = []byte(strings.Join(cfg.project, "\n") + "\n")
	}
	// The manager reaches the registries only through the relay to the
	// egress proxy, which holds the credentials.
	proxy := fmt.Sprintf("http://127.0.0.1:%d/", egress.RelayPort)
	fetchRC := append(cfg.fetch, "proxy="+proxy, "https-proxy="+proxy, "noproxy=", "strict-ssl=true")
	s.FetchRC = []byte(strings.Join(fetchRC, "\n") + "\n")
	return s, nil
}
