package sandbox

import (
	"testing"
	"time"
)

func TestSplitLogTime(t *testing.T) {
	at, line := splitLogTime("2026-11-27T22:55:00.123456789Z > esbuild@0.21.5 postinstall")
	if at.IsZero() || at.Nanosecond() != 123456789 || line != "> esbuild@0.21.5 postinstall" {
		t.Errorf("got %v %q", at, line)
	}
	if at, line := splitLogTime("no time here"); !at.IsZero() || line != "no time here" {
		t.Errorf("got %v %q", at, line)
	}
}

func TestScriptDurationsFromLogTimes(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)
	lt := &lineTimes{first: map[string]time.Time{}}
	for _, l := range []struct {
		after time.Duration
		line  string
	}{
		{0, "> hello-addon@1.0.0 install"},
		{100 * time.Millisecond, "gyp info it worked"},
		{2500 * time.Millisecond, "> esbuild@0.21.5 postinstall"},
		{2600 * time.Millisecond, "> hello-addon@1.0.0 install"}, // a repeat: keeps the first time
		{3000 * time.Millisecond, "done"},
	} {
		lt.see(t0.Add(l.after), l.line)
	}
	runs := []ScriptRun{{Package: "hello-addon@1.0.0", Event: "install"}, {Package: "esbuild@0.21.5", Event: "postinstall"}, {Package: "quiet@1.0.0", Event: "install"}}
	lt.durations(runs)
	if runs[0].DurationMS != 2500 || runs[1].DurationMS != 500 || runs[2].DurationMS != 0 {
		t.Errorf("durations %+v", runs)
	}
}
