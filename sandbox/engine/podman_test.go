package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/errorhandling"
)

// The answers Podman gave here to a kill of a container that killAll had
// already ended.
func TestStoppedMeanwhile(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"Podman 4.3", &errorhandling.ErrorModel{ResponseCode: 500, Message: "container state improper: stopped", Because: "container state improper"}, true},
		{"Podman 5.4", &errorhandling.ErrorModel{ResponseCode: 409, Message: "sending signal to container 7a0e94afcaad: container state improper", Because: "container state improper"}, true},
		{"wrapped", fmt.Errorf("killing: %w", &errorhandling.ErrorModel{ResponseCode: 409, Because: define.ErrCtrStateInvalid.Error()}), true},
		{"no such container", &errorhandling.ErrorModel{ResponseCode: 404, Message: "no container with name or ID \"x\" found: no such container", Because: "no such container"}, false},
		{"not the API's", errors.New("connection refused"), false},
	} {
		if got := stoppedMeanwhile(c.err); got != c.want {
			t.Errorf("%s: stoppedMeanwhile = %v, want %v", c.name, got, c.want)
		}
	}
}

// The answers Podman 4.3.1 gave here to a list that met an object another
// run removed meanwhile, which Leftovers lists again.
func TestGoneMeanwhile(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"volume", &errorhandling.ErrorModel{ResponseCode: 500, Message: "no volume with name \"safe-install-x-home\" found in database: no such volume", Because: "no such volume"}, true},
		{"container", fmt.Errorf("listing containers: %w", &errorhandling.ErrorModel{ResponseCode: 404, Because: define.ErrNoSuchCtr.Error()}), true},
		{"words only", errors.New("listing volumes: no volume with name x found in database: no such volume"), true},
		{"state improper", &errorhandling.ErrorModel{ResponseCode: 500, Message: "container state improper", Because: "container state improper"}, false},
		{"not the API's", errors.New("connection refused"), false},
	} {
		if got := goneMeanwhile(c.err); got != c.want {
			t.Errorf("%s: goneMeanwhile = %v, want %v", c.name, got, c.want)
		}
	}
}

// The ID mapping, as podman info sends it, reads as one string per
// mapping (the pipeline names a cache volume after it).
func TestIDMapping(t *testing.T) {
	m := func(host int) string {
		var ms define.IDMappings // as podman info sends it
		r := fmt.Sprintf(`[{"container_id":0,"host_id":1006,"size":1},{"container_id":1,"host_id":%d,"size":65536}]`, host)
		if err := json.Unmarshal([]byte(`{"uidmap":`+r+`,"gidmap":`+r+`}`), &ms); err != nil {
			t.Fatal(err)
		}
		return idMapping(ms)
	}
	if got, want := m(427680), "0:1006:1 1:427680:65536 / 0:1006:1 1:427680:65536"; got != want {
		t.Errorf("idMapping = %q, want %q", got, want)
	}
	if m(427680) == m(900000) {
		t.Error("two mappings read the same")
	}
}
