package main

import (
	"context"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// execute runs the app on args (args[0] is the program), after moving a
// command's own flags that were given before the command word to just
// after it: `safe-install -q npm ci` as `safe-install npm -q ci`, so that
// every flag is accepted before or after npm/pip (urfave/cli takes only
// the app's own flags before the command word).
func execute(ctx context.Context, app *cli.App, args []string) error {
	return app.RunContext(ctx, hoistFlags(app, args))
}

func hoistFlags(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	takesValue := func(flags []cli.Flag, arg string) (known, value bool) {
		name, _, hasEq := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		for _, f := range flags {
			if slices.Contains(f.Names(), name) {
				_, isBool := f.(*cli.BoolFlag)
				return true, !isBool && !hasEq
			}
		}
		return false, false
	}
	var before, moved []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			cmd := app.Command(a)
			if cmd == nil || len(moved) == 0 {
				return args
			}
			out := append([]string{args[0]}, before...)
			out = append(out, a)
			out = append(out, moved...)
			return append(out, args[i+1:]...)
		}
		if known, value := takesValue(app.Flags, a); known {
			before = append(before, a)
			if value && i+1 < len(args) {
				i++
				before = append(before, args[i])
			}
			continue
		}
		// Not the app's: it can only be the command's, which comes next.
		moved = append(moved, a)
		if cmd := nextCommand(app, args[i+1:]); cmd != nil {
			if _, value := takesValue(cmd.Flags, a); value && i+1 < len(args) {
				i++
				moved = append(moved, args[i])
			}
		}
	}
	return args
}

// nextCommand finds the first command word in args.
func nextCommand(app *cli.App, args []string) *cli.Command {
	for _, a := range args {
		if c := app.Command(a); c != nil {
			return c
		}
	}
	return nil
}
