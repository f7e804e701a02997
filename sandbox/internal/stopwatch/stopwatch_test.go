package stopwatch

import (
	"testing"
	"time"
)

// Steps keep the order they first ended in, and a step that ends again
// (two scripts containers) adds up.
func TestStopwatchLaps(t *testing.T) {
	s := &Stopwatch{last: time.Now().Add(-100 * time.Millisecond)}
	s.Lap("fetch")
	s.last = s.last.Add(-50 * time.Millisecond)
	s.Lap("scripts")
	s.last = s.last.Add(-20 * time.Millisecond)
	s.Lap("fetch")
	if len(s.steps) != 2 || s.steps[0].Step != "fetch" || s.steps[1].Step != "scripts" {
		t.Fatalf("steps %+v: want fetch, scripts", s.steps)
	}
	if s.steps[0].MS < 120 || s.steps[1].MS < 50 {
		t.Errorf("steps %+v: fetch took at least 120 ms in two laps, scripts 50", s.steps)
	}
}
