package npm

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
)

// netlogScript is loaded into the scripts phases' node processes; see
// netlog.js.
//
//go:embed netlog.js
var netlogScript []byte

// maxNetLog bounds what is read of netlog.js's notes (a script can write
// the file too).
const (
	maxNetLog      = 1 << 20
	maxNetAttempts = 100
)

// parseNetLog reads netlog.js's JSON lines, one attempt per package and host.
func parseNetLog(r io.Reader) []install.NetworkAttempt {
	var out []install.NetworkAttempt
	sc := bufio.NewScanner(io.LimitReader(r, maxNetLog))
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() && len(out) < maxNetAttempts {
		var a install.NetworkAttempt
		if json.Unmarshal(sc.Bytes(), &a) != nil || a.Host == "" {
			continue
		}
		a = install.NetworkAttempt{Package: escape.Line(a.Package), Host: escape.Line(a.Host)}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// downloadSwitches are the known ways to tell a package not to download at
// install time, for the warning.
var downloadSwitches = map[string]string{
	"puppeteer":  "PUPPETEER_SKIP_DOWNLOAD=1",
	"cypress":    "CYPRESS_INSTALL_BINARY=0",
	"playwright": "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1",
	"electron":   "ELECTRON_SKIP_BINARY_DOWNLOAD=1",
}

// networkWarning names the packages and hosts, and the switch where one
// is known.
func networkWarning(attempts []install.NetworkAttempt) string {
	hosts := map[string][]string{}
	var pkgs []string
	for _, a := range attempts {
		if _, ok := hosts[a.Package]; !ok {
			pkgs = append(pkgs, a.Package)
		}
		hosts[a.Package] = append(hosts[a.Package], a.Host)
	}
	var parts []string
	for _, p := range pkgs {
		part := fmt.Sprintf("%s tried %s", p, strings.Join(hosts[p], ", "))
		if sw, ok := downloadSwitches[PolicyName(p)]; ok {
			part += " (" + sw + " skips its download)"
		}
		parts = append(parts, part)
	}
	return "install scripts tried to reach the network, which they have no way to here (only lo), by design: " + strings.Join(parts, "; ") +
		". Whatever they meant to download is missing from the tree, even where the script exited 0; fetch it at first use, or drop the package"
}

// NetlogTool is netlog.js as a plan's Tools input: another manager whose
// scripts run under node (pnpm) notes network attempts the same way.
func NetlogTool() install.Input {
	return install.Input{Name: "netlog.js", Data: netlogScript, Mode: 0o644}
}

// ReadNetLog reads the network attempts netlog.js noted in a finished
// scripts container (none when it noted nothing).
func ReadNetLog(ctx context.Context, c install.Files) []install.NetworkAttempt {
	data, err := c.Read(ctx, NetLog, maxNetLog)
	if err != nil {
		return nil
	}
	return parseNetLog(strings.NewReader(string(data)))
}

// NetworkWarning is the line that names what scripts tried to reach.
func NetworkWarning(a []install.NetworkAttempt) string { return networkWarning(a) }
