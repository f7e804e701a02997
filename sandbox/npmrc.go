package sandbox

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// defaultRegistry is npm's own default, trusted like one the user configured.
const defaultRegistry = "https://registry.npmjs.org/"

// npmrcDropped are keys that run code, move files, or point npm at other
// config. A project .npmrc is attacker-controllable through a pull request
// (THREATS F8), and the sandbox sets its own values for the rest.
var npmrcDropped = map[string]string{
	"script-shell":       "chooses the shell that runs scripts",
	"shell":              "chooses a shell npm runs",
	"node-options":       "injects code into every node process",
	"onload-script":      "runs code when npm starts",
	"init-module":        "runs code on npm init",
	"editor":             "names a program npm runs",
	"git":                "names a program npm runs",
	"prefix":             "moves where npm writes",
	"cache":              "set by the sandbox",
	"nodedir":            "set by the sandbox",
	"userconfig":         "points at another config file",
	"globalconfig":       "points at another config file",
	"ignore-scripts":     "set by the sandbox per phase",
	"cafile":             "the sandbox trusts the host's CA bundle",
	"ca":                 "the sandbox trusts the host's CA bundle",
	"global":             "safe-install installs into the project only",
	"location":           "safe-install installs into the project only",
	"foreground-scripts": "set by the sandbox",
}

// credentialKey matches npm's auth settings, bare or scoped to a registry
// ("//host/path/:_authToken").
var credentialKey = regexp.MustCompile(`(^|:)(_authToken|_auth|_password|username|certfile|keyfile|email)$`)

var envRef = regexp.MustCompile(`\$\{([^}?]+)(\?)?\}`)

type npmrcEntry struct{ key, value string }

func parseNpmrc(data []byte) []npmrcEntry {
	var out []npmrcEntry
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out = append(out, npmrcEntry{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out
}

// npmConfig is the user's and the project's npm configuration, split by
// who may see it.
type npmConfig struct {
	project    []string // non-secret project settings: /work/.npmrc, every phase
	fetch      []string // user settings and credentials: fetch container only
	registries []string // registry URLs the fetch needs
}

// sanitizeNpmrc splits user and project .npmrc files. Credentials go only
// to the fetch phase, with ${VAR} expanded from the host's environment;
// a project file's credential is kept only for a registry the user's own
// config already trusts, so a pull request cannot send a token elsewhere.
func sanitizeNpmrc(user, project []byte, env map[string]string, warn func(string)) npmConfig {
	var cfg npmConfig
	trusted := map[string]bool{registryScope(defaultRegistry): true}
	regs := map[string]bool{}
	userEntries := parseNpmrc(user)
	for _, e := range userEntries {
		if isRegistryKey(e.key) {
			trusted[registryScope(expand(e.value, env))] = true
		}
	}
	for _, e := range userEntries {
		if why, bad := npmrcDropped[e.key]; bad {
			warn(fmt.Sprintf("ignoring %q from the user's .npmrc: %s", e.key, why))
			continue
		}
		v := expand(e.value, env)
		if isRegistryKey(e.key) {
			regs[v] = true
		}
		cfg.fetch = append(cfg.fetch, e.key+"="+v)
	}
	for _, e := range parseNpmrc(project) {
		if why, bad := npmrcDropped[e.key]; bad {
			warn(fmt.Sprintf("ignoring %q from the project's .npmrc: %s", e.key, why))
			continue
		}
		if credentialKey.MatchString(e.key) {
			if !strings.HasPrefix(e.key, "//") || !trusted[credentialScope(e.key)] {
				warn(fmt.Sprintf("ignoring %q from the project's .npmrc: a credential for a registry your own npm config does not name", e.key))
				continue
			}
			cfg.fetch = append(cfg.fetch, e.key+"="+expand(e.value, env))
			continue
		}
		if envRef.MatchString(e.value) {
			warn(fmt.Sprintf("ignoring %q from the project's .npmrc: it reads the host environment, which the sandbox does not have", e.key))
			continue
		}
		if isRegistryKey(e.key) {
			regs[e.value] = true
		}
		cfg.project = append(cfg.project, e.key+"="+e.value)
	}
	if len(regs) == 0 {
		regs[defaultRegistry] = true
	}
	for r := range regs {
		cfg.registries = append(cfg.registries, r)
	}
	sort.Strings(cfg.registries)
	return cfg
}

func isRegistryKey(k string) bool {
	return k == "registry" || strings.HasSuffix(k, ":registry")
}

// registryScope turns a registry URL into the scope npm keys its
// credentials by: "https://host:port/path" becomes "host:port/path/".
func registryScope(registry string) string {
	u, err := url.Parse(registry)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Host + strings.TrimSuffix(u.Path, "/") + "/"
}

// credentialScope is the "host/path/" of a "//host/path/:_authToken" key.
func credentialScope(key string) string {
	s := strings.TrimPrefix(key, "//")
	if i := strings.LastIndex(s, ":"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, "/") + "/"
}

// expand replaces ${VAR} and ${VAR?} as npm does; an unset VAR becomes "".
func expand(v string, env map[string]string) string {
	return envRef.ReplaceAllStringFunc(v, func(m string) string {
		return env[envRef.FindStringSubmatch(m)[1]]
	})
}
