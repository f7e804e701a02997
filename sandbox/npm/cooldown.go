package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// ReleaseAge is the cooldown: refuse any package version published less
// than Min ago. Most Shai-Hulud versions were pulled from the registry
// within hours, so a day or two of waiting keeps nearly all of them out.
type ReleaseAge struct {
	Min    time.Duration
	Client *http.Client // nil: the host's proxy settings, a minute per request
	Now    func() time.Time
}

// TooNewError is a version younger than the cooldown.
type TooNewError struct {
	Package   string // name@version
	Published time.Time
	Age, Min  time.Duration
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("%s was published %s ago (%s), less than --min-release-age %s; most malicious versions are pulled within hours. "+
		"Wait, or pin an older version; the project was left unchanged", e.Package, shortDuration(e.Age), e.Published.UTC().Format(time.RFC3339), shortDuration(e.Min))
}

// shortDuration prints 48h, 3h5m or 42s rather than 48h0m0s.
func shortDuration(d time.Duration) string {
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (e *TooNewError) Unwrap() error { return install.ErrPolicy }

// Locked is one registry package of a lockfile, and the registry it came
// from (pnpm's lockfile gives them too: sandbox/pnpm).
type Locked struct {
	Name, Version, Registry string
}

// registryPackages lists the lockfile's packages that come from a registry
// (not links, files or git), with the registry each came from: the prefix
// of its resolved tarball URL, else the default one.
func registryPackages(l layout.Lockfile, defaultRegistry string) []Locked {
	seen := map[string]bool{}
	var out []Locked
	for key, p := range l.Packages {
		if key == "" || p.Link || p.Version == "" {
			continue
		}
		name := p.Name
		if name == "" {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 {
				continue
			}
			name = key[i+len("node_modules/"):]
		}
		reg := defaultRegistry
		if p.Resolved != "" {
			i := strings.Index(p.Resolved, "/"+name+"/-/")
			if i < 0 || !strings.HasPrefix(p.Resolved, "http") {
				continue // file:, git, or a tarball URL the registry did not serve
			}
			reg = p.Resolved[:i+1]
		}
		if id := name + "@" + p.Version; !seen[id] {
			seen[id] = true
			out = append(out, Locked{name, p.Version, reg})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].Version < out[j].Name+out[j].Version })
	return out
}

// Check reads each package's packument (its `time` field) from its
// registry, with the credential the plan holds for that registry, and
// refuses the first version younger than the cooldown.
func (c ReleaseAge) Check(ctx context.Context, lockfile string, registries []egress.Registry) error {
	data, err := os.ReadFile(lockfile)
	if err != nil {
		return fmt.Errorf("--min-release-age reads the lockfile: %w", err)
	}
	var l layout.Lockfile
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("%w: %s is not valid JSON: %w", install.ErrPolicy, lockfile, err)
	}
	def := "https://registry.npmjs.org/"
	if len(registries) > 0 {
		def = registries[0].URL
	}
	return c.CheckPackages(ctx, registryPackages(l, def), registries)
}

// CheckPackages is Check for packages a lockfile named.
func (c ReleaseAge) CheckPackages(ctx context.Context, pkgs []Locked, registries []egress.Registry) error {
	client, now := c.Client, c.Now
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		client = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	if now == nil {
		now = time.Now
	}
	// Packuments by name, fetched once each, sixteen at a time.
	names := map[string]string{}
	for _, p := range pkgs {
		names[p.Name] = p.Registry
	}
	times := map[string]map[string]time.Time{}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for name, reg := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := fetchTimes(ctx, client, reg, name, registries)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			times[name] = t
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for _, p := range pkgs {
		published, ok := times[p.Name][p.Version]
		if !ok {
			return fmt.Errorf("%w: the registry gives no publication time for %s@%s, so --min-release-age cannot vouch for it", install.ErrPolicy, p.Name, p.Version)
		}
		if age := now().Sub(published); age < c.Min {
			return &TooNewError{Package: p.Name + "@" + p.Version, Published: published, Age: age, Min: c.Min}
		}
	}
	return nil
}

// fetchTimes reads a full packument's `time` map (the abbreviated one
// npm installs with has none).
func fetchTimes(ctx context.Context, client *http.Client, registry, name string, registries []egress.Registry) (map[string]time.Time, error) {
	u := strings.TrimSuffix(registry, "/") + "/" + strings.Replace(name, "/", "%2f", 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if pu, err := url.Parse(u); err == nil {
		if reg, ok := egress.Match(registries, pu); ok && reg.Auth != "" {
			req.Header.Set("Authorization", reg.Auth)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("--min-release-age: reading %s's publication times: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("--min-release-age: %s answered %s for %s", registry, resp.Status, name)
	}
	var doc struct {
		Time map[string]string `json:"time"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("--min-release-age: %s's packument: %w", name, err)
	}
	out := map[string]time.Time{}
	for v, s := range doc.Time {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			out[v] = t
		}
	}
	return out, nil
}
