package npm

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/safe-install/safe-install/sandbox/egress"
)

// defaultRegistry is npm's own default, trusted like one the user configured.
const defaultRegistry = "https://registry.npmjs.org/"

// npmrcDropped are keys that run code, move files, or point npm at other
// config. A project .npmrc is attacker-controllable through a pull request
// (corpus case F8, cmd/safe-install/testdata/corpus/README.md), and the
// sandbox sets its own values for the rest.
var npmrcDropped = map[string]string{
	"script-shell":          "chooses the shell that runs scripts",
	"shell":                 "chooses a shell npm runs",
	"node-options":          "injects code into every node process",
	"onload-script":         "runs code when npm starts",
	"init-module":           "runs code on npm init",
	"editor":                "names a program npm runs",
	"git":                   "names a program npm runs",
	"prefix":                "moves where npm writes",
	"cache":                 "set by the sandbox",
	"nodedir":               "set by the sandbox",
	"userconfig":            "points at another config file",
	"globalconfig":          "points at another config file",
	"ignore-scripts":        "set by the sandbox per phase",
	"cafile":                "the sandbox trusts the host's CA bundle",
	"ca":                    "the sandbox trusts the host's CA bundle",
	"global":                "safe-install installs into the project only",
	"location":              "safe-install installs into the project only",
	"foreground-scripts":    "set by the sandbox",
	"proxy":                 "the sandbox's egress proxy is the only way out",
	"https-proxy":           "the sandbox's egress proxy is the only way out",
	"noproxy":               "the sandbox's egress proxy is the only way out",
	"strict-ssl":            "the sandbox checks TLS itself",
	"replace-registry-host": "could send lockfile tarballs to another host",
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
// who may see it. Credentials are in no list that reaches a container: the
// egress proxy adds them on the host (registries[].Auth).
type npmConfig struct {
	project    []string          // non-secret project settings: /work/.npmrc, every phase
	fetch      []string          // the user's non-secret settings: fetch container only
	registries []egress.Registry // registries the fetch may reach, with their credentials
	def        string            // the default registry: the last registry= of the user's, then the project's
	// projectOnly are registries that only the project's .npmrc names,
	// by URL, with the key that names them.
	projectOnly map[string]string
}

// sanitizeNpmrc splits user and project .npmrc files. Credentials are taken
// out, with ${VAR} expanded from the host's environment; a project file's
// credential is kept only for a registry the user's own config already
// trusts, so a pull request cannot send a token elsewhere.
func sanitizeNpmrc(user, project []byte, env map[string]string, warn func(string)) npmConfig {
	cfg := npmConfig{projectOnly: map[string]string{}, def: defaultRegistry}
	creds := map[string]map[string]string{} // scope -> key -> value
	userRegs := []string{defaultRegistry}
	userEntries := parseNpmrc(user)
	for _, e := range userEntries {
		if isRegistryKey(e.key) {
			userRegs = append(userRegs, expand(e.value, env))
			if e.key == "registry" {
				cfg.def = expand(e.value, env)
			}
		}
	}
	trusted := map[string]bool{}
	for _, r := range userRegs {
		trusted[registryScope(r)] = true
	}
	// A bare _authToken belongs to the user's default registry.
	defaultScope := registryScope(userRegs[len(userRegs)-1])
	addCred := func(key, value string) {
		scope, field := defaultScope, key
		if strings.HasPrefix(key, "//") {
			scope, field = credentialScope(key), key[strings.LastIndex(key, ":")+1:]
		}
		if creds[scope] == nil {
			creds[scope] = map[string]string{}
		}
		creds[scope][field] = value
	}
	for _, e := range userEntries {
		if why, bad := npmrcDropped[e.key]; bad {
			warn(fmt.Sprintf("ignoring %q from the user's .npmrc: %s", e.key, why))
			continue
		}
		v := expand(e.value, env)
		if credentialKey.MatchString(e.key) {
			addCred(e.key, v)
			continue
		}
		cfg.fetch = append(cfg.fetch, e.key+"="+v)
	}
	regs := append([]string{}, userRegs...)
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
			addCred(e.key, expand(e.value, env))
			continue
		}
		if envRef.MatchString(e.value) {
			warn(fmt.Sprintf("ignoring %q from the project's .npmrc: it reads the host environment, which the sandbox does not have", e.key))
			continue
		}
		if isRegistryKey(e.key) {
			regs = append(regs, e.value)
			if e.key == "registry" {
				cfg.def = e.value
			}
			if !trusted[registryScope(e.value)] {
				cfg.projectOnly[e.value] = e.key
			}
		}
		cfg.project = append(cfg.project, e.key+"="+e.value)
	}
	seen := map[string]bool{}
	for _, r := range regs {
		scope := registryScope(r)
		if scope == "" || seen[scope] {
			continue
		}
		seen[scope] = true
		cfg.registries = append(cfg.registries, egress.Registry{URL: r, Auth: authHeader(creds[scope])})
	}
	return cfg
}

// authHeader turns npm's credential fields into an Authorization value.
func authHeader(c map[string]string) string {
	switch {
	case c["_authToken"] != "":
		return "Bearer " + c["_authToken"]
	case c["_auth"] != "":
		return "Basic " + c["_auth"]
	case c["username"] != "" && c["_password"] != "":
		pw, err := base64.StdEncoding.DecodeString(c["_password"])
		if err != nil {
			return ""
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(c["username"]+":"+string(pw)))
	}
	return ""
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
