package pip

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
)

// PyPIIndex is pip's default index; its files live on another host.
const PyPIIndex = "https://pypi.org/simple"

var pypiRegistries = []egress.Registry{{URL: "https://pypi.org/simple/"}, {URL: "https://files.pythonhosted.org/packages/"}}

// pipIndex is where the fetch phase's pip looks, after every source of
// configuration has been read: the user's pip config files and PIP_*
// variables, then the command line and (with --allow-index) requirements
// files. URLs here carry no credentials; those are in Registries.
type pipIndex struct {
	IndexURL   string
	ExtraURLs  []string
	FindLinks  []string // remote URLs, and container paths of local dirs
	NoIndex    bool
	Registries []egress.Registry
	localLinks []string // project-relative find-links dirs, to copy in
}

// pipConfigFiles are pip's configuration files in the order pip reads
// them; later ones win.
func pipConfigFiles(opts install.PlanOptions) []string {
	if f, ok := opts.Env["PIP_CONFIG_FILE"]; ok {
		if f == os.DevNull {
			return nil
		}
		return []string{f}
	}
	files := []string{"/etc/xdg/pip/pip.conf", "/etc/pip.conf"}
	if opts.Home != "" {
		files = append(files, filepath.Join(opts.Home, ".pip", "pip.conf"), filepath.Join(opts.Home, ".config", "pip", "pip.conf"))
	}
	if v := opts.Env["VIRTUAL_ENV"]; v != "" {
		files = append(files, filepath.Join(v, "pip.conf"))
	}
	return files
}

// readPipConfig returns the index settings of the [global] and [install]
// sections, then the PIP_* variables on top, as pip does.
func readPipConfig(opts install.PlanOptions) map[string]string {
	cfg := map[string]string{}
	for _, f := range pipConfigFiles(opts) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		section, key := "", ""
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			raw := sc.Text()
			l := strings.TrimSpace(raw)
			switch {
			case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
			case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
				section, key = strings.TrimSpace(l[1:len(l)-1]), ""
			case (raw[0] == ' ' || raw[0] == '\t') && key != "":
				cfg[key] += " " + l // a continuation line (multi-valued options)
			case section == "global" || section == "install" || section == "download":
				k, v, _ := strings.Cut(l, "=")
				key = strings.TrimSpace(k)
				cfg[key] = strings.TrimSpace(v)
			default:
				key = ""
			}
		}
	}
	for _, k := range []string{"index-url", "extra-index-url", "find-links", "no-index"} {
		if v, ok := opts.Env["PIP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))]; ok {
			cfg[k] = v
		}
	}
	return cfg
}

// resolvePipIndex combines the user's configuration with the options of
// the command line and the requirements files.
func resolvePipIndex(project string, cmdline, files []indexOption, opts install.PlanOptions) (*pipIndex, error) {
	if len(files) > 0 && !opts.AllowIndex {
		var where []string
		for _, o := range files {
			where = append(where, fmt.Sprintf("%s %s %s", o.Where, o.Option, escape.RedactedURL(o.Value)))
		}
		return nil, fmt.Errorf("%w: a requirements file changes where pip fetches from (%s); "+
			"a pull request can change that file, so rerun with --allow-index if you trust it", install.ErrPolicy, strings.Join(where, "; "))
	}
	cfg := readPipConfig(opts)
	idx := &pipIndex{IndexURL: PyPIIndex}
	if v := cfg["index-url"]; v != "" {
		idx.IndexURL = v
	}
	idx.ExtraURLs = strings.Fields(cfg["extra-index-url"])
	idx.NoIndex = truthy(cfg["no-index"])
	var links []indexOption
	for _, l := range strings.Fields(cfg["find-links"]) {
		links = append(links, indexOption{Option: "--find-links", Value: l, Where: "pip configuration"})
	}
	for _, o := range append(append([]indexOption{}, cmdline...), files...) {
		switch o.Option {
		case "--index-url":
			idx.IndexURL = o.Value
		case "--extra-index-url":
			idx.ExtraURLs = append(idx.ExtraURLs, o.Value)
		case "--no-index":
			idx.NoIndex = true
		case "--find-links":
			links = append(links, o)
		}
	}
	netrc := readNetrc(opts)
	add := func(raw, where string) (string, error) {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("%w: %s: %q is not an http(s) index URL", install.ErrPolicy, where, escape.RedactedURL(raw))
		}
		reg := egress.Registry{URL: u.Scheme + "://" + u.Host + "/"}
		if u.User != nil {
			pw, _ := u.User.Password()
			reg.Auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
		} else if a := netrc[u.Hostname()]; a != "" {
			reg.Auth = a
		}
		if raw == PyPIIndex || strings.TrimSuffix(raw, "/") == PyPIIndex {
			idx.Registries = append(idx.Registries, pypiRegistries...)
		} else if _, ok := egress.Match(idx.Registries, u); !ok {
			// pip sends an index's credentials to its whole host, and the
			// index's file links may point anywhere on it.
			idx.Registries = append(idx.Registries, reg)
		}
		u.User = nil
		return u.String(), nil
	}
	var err error
	if !idx.NoIndex {
		if idx.IndexURL, err = add(idx.IndexURL, "index-url"); err != nil {
			return nil, err
		}
		for i, e := range idx.ExtraURLs {
			if idx.ExtraURLs[i], err = add(e, "extra-index-url"); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range links {
		if strings.HasPrefix(l.Value, "http://") || strings.HasPrefix(l.Value, "https://") {
			clean, err := add(l.Value, l.Where)
			if err != nil {
				return nil, err
			}
			idx.FindLinks = append(idx.FindLinks, clean)
			continue
		}
		dir := project
		if l.Where != "command line" && l.Where != "pip configuration" {
			dir = filepath.Join(project, filepath.Dir(strings.SplitN(l.Where, ":", 2)[0]))
		}
		rel, err := (&reqFiles{project: project}).projectPath(dir, l.Value)
		if err != nil {
			if l.Where == "pip configuration" && opts.Warn != nil {
				opts.Warn(fmt.Sprintf("pip configuration find-links %s is outside the project and is not copied into the sandbox; ignored", l.Value))
				continue
			}
			return nil, err
		}
		idx.localLinks = append(idx.localLinks, rel)
		idx.FindLinks = append(idx.FindLinks, install.WorkDir+"/"+rel)
	}
	if idx.NoIndex && len(idx.FindLinks) == 0 {
		return nil, fmt.Errorf("%w: --no-index without --find-links leaves pip nothing to install from", install.ErrPolicy)
	}
	return idx, nil
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// readNetrc returns a Basic Authorization value per machine from the
// user's netrc, which pip (through requests) uses for matching hosts.
func readNetrc(opts install.PlanOptions) map[string]string {
	file := opts.Env["NETRC"]
	if file == "" && opts.Home != "" {
		file = filepath.Join(opts.Home, ".netrc")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	toks := strings.Fields(string(data))
	machine, login, password := "", "", ""
	flush := func() {
		if machine != "" && (login != "" || password != "") {
			out[machine] = "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
		}
		machine, login, password = "", "", ""
	}
	for i := 0; i < len(toks); i++ {
		next := func() string {
			if i+1 < len(toks) {
				i++
				return toks[i]
			}
			return ""
		}
		switch toks[i] {
		case "machine":
			flush()
			machine = next()
		case "default":
			flush()
		case "login":
			login = next()
		case "password":
			password = next()
		case "account", "macdef":
			next()
		}
	}
	flush()
	return out
}
