package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckContainersConf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		files []string // contents, read in this order
		want  string   // "" when accepted, else in the error: file index and entry
	}{
		{"engine settings only", []string{"[engine]\nruntime = \"runc\"\n"}, ""},
		{"volumes", []string{"[containers]\nvolumes = [\"/home/u:/host\"]\n"}, `0 volumes = "/home/u:/host"`},
		{"devices", []string{"[containers]\ndevices = [\"/dev/fuse\"]\n"}, `0 devices = "/dev/fuse"`},
		{"mounts (5.x)", []string{"[containers]\nmounts = [\"type=bind,src=/,dst=/host\"]\n"}, `0 mounts`},
		{"annotations", []string{"[containers]\nannotations = [\"run.oci.handler=krun\"]\n"}, `0 annotations`},
		{"cgroup_conf (5.x)", []string{"[containers]\ncgroup_conf = [\"memory.max=max\"]\n"}, `0 cgroup_conf = "memory.max=max"`},
		{"a later file empties it", []string{"[containers]\nvolumes = [\"/a:/a\"]\n", "[containers]\nvolumes = []\n"}, ""},
		{"a later file replaces it", []string{"[containers]\nvolumes = []\n", "[containers]\nvolumes = [\"/b:/b\"]\n"}, `1 volumes = "/b:/b"`},
		{"a later file adds to it (5.x append)", []string{"[containers]\nvolumes = [\"/a:/a\"]\n", "[containers]\nvolumes = [{append=true}]\n"}, `1 volumes = "/a:/a"`},
		{"other settings", []string{"[containers]\nenv = [\"A=b\"]\numask = \"0000\"\n"}, ""},
		{"not TOML", []string{"[containers\n"}, "0 reading"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := []string{filepath.Join(dir, "missing.conf")} // skipped
			for i, body := range c.files {
				f := filepath.Join(dir, string(rune('0'+i))+".conf")
				if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			err := checkContainersConf(files, "NEXT")
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := strings.ReplaceAll(err.Error(), dir+"/", "")
			file, entry, _ := strings.Cut(c.want, " ")
			if !errors.Is(err, ErrEngineConfig) || !errors.Is(err, ErrUnavailable) ||
				!strings.Contains(msg, file+".conf") || !strings.Contains(msg, entry) {
				t.Errorf("error %q, want %s.conf and %q", msg, file, entry)
			}
			if entry != "reading" && !strings.HasSuffix(msg, "NEXT") {
				t.Errorf("error %q does not end with the next step", msg)
			}
		})
	}
}

func TestContainersConfFiles(t *testing.T) {
	home := t.TempDir()
	drop := filepath.Join(home, "containers", "containers.conf.d")
	os.MkdirAll(drop, 0o755)
	for _, f := range []string{"b.conf", "a.conf", "c.txt"} {
		os.WriteFile(filepath.Join(drop, f), nil, 0o644)
	}
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("CONTAINERS_CONF", "/x/only.conf")
	t.Setenv("CONTAINERS_CONF_OVERRIDE", "/x/override.conf")
	if got := containersConfFiles(true); !slices.Equal(got, []string{"/x/only.conf", "/x/override.conf"}) {
		t.Errorf("with the environment: %q", got)
	}
	got := containersConfFiles(false)
	user := filepath.Join(home, "containers", "containers.conf")
	want := []string{user, filepath.Join(drop, "a.conf"), filepath.Join(drop, "b.conf")}
	if len(got) < 5 || got[0] != "/usr/share/containers/containers.conf" || got[1] != "/etc/containers/containers.conf" ||
		!slices.Equal(got[len(got)-3:], want) || slices.Contains(got, "/x/only.conf") {
		t.Errorf("without the environment: %q, want the system files first and %q last", got, want)
	}
}

func TestPodmanAnnotation(t *testing.T) {
	t.Parallel()
	for k, want := range map[string]bool{
		"io.podman.annotations.autoremove": true, "io.container.manager": true,
		"org.opencontainers.image.stopSignal": true, "org.systemd.property.KillSignal": true,
		"run.oci.keep_original_groups": false,
		"run.oci.handler":              false, "module.wasm.image/variant": false,
	} {
		if podmanAnnotation(k) != want {
			t.Errorf("podmanAnnotation(%q) = %v", k, !want)
		}
	}
}

func TestCheckMountsConf(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	f := filepath.Join(home, ".config", "containers", "mounts.conf")
	os.MkdirAll(filepath.Dir(f), 0o755)
	// The user's file comes first and stands alone: comments only, none.
	os.WriteFile(f, []byte("# /usr/share/rhel/secrets:/run/secrets\n\n"), 0o644)
	if err := checkMountsConf("NEXT"); err != nil {
		t.Errorf("a mounts.conf of comments refused: %v", err)
	}
	os.WriteFile(f, []byte("# secrets\n /home/u/.aws:/run/aws \n"), 0o644)
	err := checkMountsConf("NEXT")
	if !errors.Is(err, ErrEngineConfig) || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), `"/home/u/.aws:/run/aws"`) {
		t.Errorf("a mounts.conf naming a host directory: %v", err)
	}
}
