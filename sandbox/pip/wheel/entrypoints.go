package wheel

import (
	"archive/zip"
	"fmt"
	"regexp"
	"strings"
)

// addEntryPoints adds the commands that pip generates from
// entry_points.txt to the wheel's scripts and files.
func (w *Wheel) addEntryPoints(ep *zip.File) error {
	body, err := readAll(ep, 4<<20)
	if err != nil {
		return err
	}
	if err := checkText(body); err != nil {
		return fmt.Errorf("entry points with %w", err)
	}
	names, err := entryPointCommands(string(body))
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := w.addCommand(name); err != nil {
			return err
		}
		w.files = append(w.files, file{member: ep.Name, scheme: "scripts", rel: name, cmd: true})
	}
	return nil
}

// entryPointCommands lists the commands of the console_scripts and
// gui_scripts sections, read as both of pip's metadata readers read them
// (importlib.metadata on Python 3.11 and later, pkg_resources before):
// every line stripped of Python's whitespace, lines starting with # are
// comments, a line in brackets starts a section, and an entry is
// name = value. The readers differ on a section's name: importlib strips
// every bracket ("[[console_scripts]]" is console_scripts), pkg_resources
// takes what is inside the outer pair, stripped; a section is a scripts
// section when either says so. Lines were split by checkText's rule.
func entryPointCommands(text string) ([]string, error) {
	var out []string
	scripts := false
	for i, line := range strings.Split(text, "\n") {
		line = pyStrip(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			scripts = scriptSection(strings.Trim(line, "[]")) || scriptSection(pyStrip(line[1:len(line)-1]))
		case scripts:
			name, _, _ := strings.Cut(line, "=")
			name = pyStrip(name)
			if !commandName.MatchString(name) {
				return nil, fmt.Errorf("line %d: the command name %q is not a plain file name (letters, digits, _ . + -); pip's script maker would install a part of it", i+1, name)
			}
			out = append(out, name)
		}
	}
	return out, nil
}

func scriptSection(name string) bool { return name == "console_scripts" || name == "gui_scripts" }

// commandName is what distlib, which writes pip's scripts, takes for a
// script's name: it searches "name = value" for (\w|[-.+])+ followed by =,
// so "x;pip3 = m:f" or "../pip3 = m:f" would install pip3. A name must be
// made of those characters alone, so that what we check is what is
// installed; a leading dot would make a hidden file or the directory
// itself.
var commandName = regexp.MustCompile(`^[\p{L}\p{N}_+-][\p{L}\p{N}_.+-]*$`)
