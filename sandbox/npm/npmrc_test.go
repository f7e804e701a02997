package npm

import (
	"slices"
	"strings"
	"testing"
)

func TestSanitizeNpmrc(t *testing.T) {
	t.Parallel()
	user := "registry=https://npm.corp.example/\n//npm.corp.example/:_authToken=${CORP_TOKEN}\nnode-options=--require x\n"
	project := strings.Join([]string{
		"save-exact=true",
		"script-shell=/tmp/evil.sh",
		"//npm.corp.example/:_authToken=${NPM_TOKEN}",
		"//evil.example/:_authToken=${NPM_TOKEN}",
		"//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
		"init-author-name=${USER}",
		"@evil:registry=http://127.0.0.1:9/",
	}, "\n")
	var warnings []string
	cfg := sanitizeNpmrc([]byte(user), []byte(project), map[string]string{"CORP_TOKEN": "corp-secret", "NPM_TOKEN": "npm-secret"},
		func(m string) { warnings = append(warnings, m) })

	// No credential in any config a container sees: they go to the proxy.
	if wantFetch := []string{"registry=https://npm.corp.example/"}; !slices.Equal(cfg.fetch, wantFetch) {
		t.Errorf("fetch config\n got %q\nwant %q", cfg.fetch, wantFetch)
	}
	auth := map[string]string{}
	for _, r := range cfg.registries {
		auth[r.URL] = r.Auth
	}
	// The project's token for the corporate registry overrides the user's
	// (npm's precedence); the one for evil.example is dropped.
	want := map[string]string{
		"https://registry.npmjs.org/": "Bearer npm-secret",
		"https://npm.corp.example/":   "Bearer npm-secret",
		"http://127.0.0.1:9/":         "",
	}
	if len(auth) != len(want) {
		t.Errorf("registries %v, want %v", auth, want)
	}
	for u, a := range want {
		if got, ok := auth[u]; !ok || got != a {
			t.Errorf("registry %s: auth %q (present %v), want %q", u, got, ok, a)
		}
	}
	if cfg.projectOnly["http://127.0.0.1:9/"] != "@evil:registry" {
		t.Errorf("projectOnly = %v", cfg.projectOnly)
	}
	wantProject := []string{"save-exact=true", "@evil:registry=http://127.0.0.1:9/"}
	if !slices.Equal(cfg.project, wantProject) {
		t.Errorf("project config\n got %q\nwant %q", cfg.project, wantProject)
	}
	for _, line := range cfg.project {
		if strings.Contains(line, "secret") {
			t.Errorf("a credential reached the project config every phase sees: %s", line)
		}
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{`"node-options" from the user's`, `"script-shell" from the project's`, `"//evil.example/:_authToken"`, `"init-author-name"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("no warning mentions %s; warnings:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "secret") {
		t.Error("a warning prints a credential")
	}
}

func TestRegistryScopes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://registry.npmjs.org/":       "registry.npmjs.org/",
		"http://127.0.0.1:4873":             "127.0.0.1:4873/",
		"https://npm.corp.example/api/npm/": "npm.corp.example/api/npm/",
	} {
		if got := registryScope(in); got != want {
			t.Errorf("registryScope(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"//registry.npmjs.org/:_authToken":      "registry.npmjs.org/",
		"//127.0.0.1:4873/:_auth":               "127.0.0.1:4873/",
		"//npm.corp.example/api/npm/:_password": "npm.corp.example/api/npm/",
	} {
		if got := credentialScope(in); got != want {
			t.Errorf("credentialScope(%q) = %q, want %q", in, got, want)
		}
	}
}

// The default registry is the last registry= of the user's config, then
// the project's (scoped registries are not it); npm's own without either.
func TestDefaultRegistry(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ user, project, want string }{
		{"", "", defaultRegistry},
		{"registry=http://127.0.0.1:4873/\n@corp:registry=https://npm.corp.example/\n", "", "http://127.0.0.1:4873/"},
		{"registry=${REG}\n", "", "https://mirror.example/"},
		{"registry=http://127.0.0.1:4873/\n", "registry=https://npm.corp.example/\n", "https://npm.corp.example/"},
	} {
		got := sanitizeNpmrc([]byte(c.user), []byte(c.project), map[string]string{"REG": "https://mirror.example/"}, func(string) {}).def
		if got != c.want {
			t.Errorf("user %q, project %q: default %q, want %q", c.user, c.project, got, c.want)
		}
	}
}
