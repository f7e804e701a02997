package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// hostSettings are the [containers] settings of containers.conf that
// Podman adds to every container it creates, server-side, whatever the
// spec says (pkg/specgen/generate, 4.3 and 5.x), and that put something
// of the host into it: a host path bind-mounted (volumes, and 5.x's
// mounts; invariant 1), a host device node (devices), an annotation the
// OCI runtime acts on (annotations). No spec field takes them away, and
// the 4.3 inspect data shows neither the volumes nor the devices
// (measured), so they are read where the service reads them (and, for
// every engine, checked inside each container: mountcheck.go). Podman 5's
// cgroup_conf joins them: its keys go into every container's cgroup
// unless the spec names them, so a memory.max or pids.max there would
// replace the run's bounds (invariant 6; from its source, MakeContainer:
// not measured, this machine's cgroups are v1).
var hostSettings = []string{"volumes", "mounts", "devices", "annotations", "cgroup_conf"}

// containersConfFiles lists, in the order Podman reads them
// (containers.conf(5)), the containers.conf files of a local rootless
// service of this user: started with this process's environment
// (withEnv: CONTAINERS_CONF then stands alone, CONTAINERS_CONF_OVERRIDE
// comes last) or as the user's own service is, without it.
func containersConfFiles(withEnv bool) []string {
	var files []string
	if path := os.Getenv("CONTAINERS_CONF"); withEnv && path != "" {
		files = []string{path}
	} else {
		files = append(files, "/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
		files = append(files, dropIns("/etc/containers/containers.conf.d")...)
		rootless := "/etc/containers/containers.rootless.conf"
		files = append(files, rootless)
		files = append(files, dropIns(rootless+".d")...)
		files = append(files, dropIns(filepath.Join(rootless+".d", strconv.Itoa(os.Getuid())))...)
		config := os.Getenv("XDG_CONFIG_HOME")
		if config == "" {
			if home, err := os.UserHomeDir(); err == nil {
				config = filepath.Join(home, ".config")
			}
		}
		if config != "" {
			user := filepath.Join(config, "containers", "containers.conf")
			files = append(files, user)
			files = append(files, dropIns(user+".d")...)
		}
	}
	if path := os.Getenv("CONTAINERS_CONF_OVERRIDE"); withEnv && path != "" {
		files = append(files, path)
	}
	return files
}

// dropIns are a containers.conf.d directory's *.conf files, by name.
func dropIns(dir string) []string {
	entries, _ := os.ReadDir(dir) // sorted; a missing directory has none
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".conf") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files
}

// checkContainersConf refuses, naming the file, the setting and its first
// entry, when the files a local service reads leave any of hostSettings
// non-empty. A later file's value replaces an earlier one's, unless
// Podman 5's {append=true} marks it an addition. next says what to do.
func checkContainersConf(files []string, next string) error {
	type origin struct {
		file    string
		entries []string
	}
	got := map[string]origin{}
	for _, f := range files {
		var doc struct {
			Containers map[string]any `toml:"containers"`
		}
		if _, err := toml.DecodeFile(f, &doc); err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("%w: reading %s: %w", ErrEngineConfig, f, err)
		}
		for _, key := range hostSettings {
			v, ok := doc.Containers[key]
			if !ok {
				continue
			}
			entries, appends := tomlStrings(v)
			if appends {
				entries = append(got[key].entries, entries...)
			}
			got[key] = origin{file: f, entries: entries}
		}
	}
	for _, key := range hostSettings {
		if o := got[key]; len(o.entries) > 0 {
			return fmt.Errorf("%w: %s sets [containers] %s = %q, which Podman adds to every container it creates, "+
				"sandbox containers too, whatever they ask (a host path, a host device, an annotation the runtime acts on "+
				"or a cgroup setting over the run's limits). "+
				"%s", ErrEngineConfig, o.file, key, o.entries[0], next)
		}
	}
	return nil
}

// tomlStrings is a containers.conf list: its strings, and whether it
// carries Podman 5's {append=true} attribute.
func tomlStrings(v any) ([]string, bool) {
	list, _ := v.([]any)
	var out []string
	appends := false
	for _, e := range list {
		switch e := e.(type) {
		case string:
			out = append(out, e)
		case map[string]any:
			if a, ok := e["append"].(bool); ok && a {
				appends = true
			}
		}
	}
	return out, appends
}

// checkMountsConf refuses, for the user's own service, the first existing
// mounts.conf (the one Podman reads, rootless: the user's, then /etc's,
// then /usr/share's) when it names a host directory: Podman copies its
// files into every container. A run's private service reads none.
func checkMountsConf(next string) error {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".config", "containers", "mounts.conf"))
	}
	for _, f := range append(files, "/etc/containers/mounts.conf", "/usr/share/containers/mounts.conf") {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				return fmt.Errorf("%w: %s names %q, whose files Podman copies into every container it creates, "+
					"sandbox containers too. %s", ErrEngineConfig, f, l, next)
			}
		}
		return nil
	}
	return nil
}
