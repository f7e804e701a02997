package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/seccomp"
)

// writeReport prints the report with --json and writes it with --report.
func writeReport(e *env, f runFlags, rep sandbox.Report) error {
	if !f.JSON && f.Report == "" {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	// The report quotes packages and output: no byte of it may act on the
	// terminal --json prints it to.
	data = append(escape.JSON(data), '\n')
	if f.JSON {
		if _, err := e.stdout.Write(data); err != nil {
			return err
		}
	}
	if f.Report != "" {
		if err := os.WriteFile(f.Report, data, 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	return nil
}

func summarize(e *env, plan *install.Plan, res *sandbox.Result, took time.Duration) {
	if inst, ok := res.Installed.(interface{ Summary() string }); ok {
		builds := 0
		for _, ph := range res.Phases {
			for _, s := range ph.Scripts {
				if s.Event == "build_wheel" {
					builds++
				}
			}
		}
		e.say("%s %s done in %.1fs: %s offline; %s%s",
			plan.Manager, strings.Join(plan.Args, " "), took.Seconds(), install.Plural(builds, "wheel build"), inst.Summary(), theftNote(res))
		return
	}
	held := ""
	if n := len(res.HeldBack); n > 0 {
		in := plan.Policy.AllowedIn
		if in == "" {
			in = "allowScripts"
		}
		held = fmt.Sprintf("; %s held back (not in %s)", install.Plural(n, "package"), in)
	}
	var copied string
	if len(res.Swapped) > 0 {
		copied = fmt.Sprintf("; %s (%.1f MB) copied back into %s", install.Plural(res.Copied.Files, "file"), float64(res.Copied.Bytes)/1e6, strings.Join(res.Swapped, ", "))
	}
	for _, a := range plan.Artifacts {
		if !slices.Contains(res.Swapped, a) {
			copied += fmt.Sprintf("; nothing to install, so no %s (npm makes none either)", a)
		}
	}
	e.say("%s %s done in %.1fs: %s ran offline%s%s%s",
		plan.Manager, strings.Join(plan.Args, " "), took.Seconds(), install.Plural(res.ScriptsRan, "install script"), held, copied, theftNote(res))
}

// theftNote ends the summary line when decoys were touched, so that even
// --quiet shows it.
func theftNote(res *sandbox.Result) string {
	if len(res.Theft) == 0 {
		return ""
	}
	return fmt.Sprintf("; WARN %s (decoy credentials touched; rerun without --quiet for details, --strict to fail)", install.Plural(len(res.Theft), "theft attempt"))
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func printDryRun(c *cli.Context, e *env, plan *install.Plan, f runFlags, lim sandbox.Limits) error {
	image := f.Image
	if image == "" {
		ref, _, err := sandbox.DefaultImage(c.Context)
		if err != nil {
			return err
		}
		image = ref
	}
	hashes, err := sandbox.ProfileHashes()
	if err != nil {
		return err
	}
	containers, err := sandbox.DryRunContainers(plan, image, lim)
	if err != nil {
		return err
	}
	out := struct {
		Plan       *install.Plan            `json:"plan"`
		Limits     sandbox.Limits           `json:"limits"`
		Seccomp    map[seccomp.Phase]string `json:"seccomp"`
		Containers []engine.ContainerSpec   `json:"containers"`
	}{Plan: plan, Limits: lim, Seccomp: hashes, Containers: containers.All()}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	// The plan names files of file: dependencies (package code): like the
	// report, nothing of it may act on the terminal (invariant 11).
	_, err = e.stdout.Write(append(escape.JSON(data), '\n'))
	return err
}
