package sandbox

import "time"

// Timing is how long one step of a run took: the report's breakdown, which
// `make bench` prints. Steps that happen more than once add up.
type Timing struct {
	Step string `json:"step"`
	MS   int64  `json:"ms"`
}

// stopwatch splits a run into consecutive steps.
type stopwatch struct {
	last  time.Time
	steps []Timing
}

func newStopwatch() *stopwatch { return &stopwatch{last: time.Now()} }

// lap ends the current step, naming it.
func (s *stopwatch) lap(step string) {
	now := time.Now()
	d := now.Sub(s.last).Milliseconds()
	s.last = now
	for i := range s.steps {
		if s.steps[i].Step == step {
			s.steps[i].MS += d
			return
		}
	}
	s.steps = append(s.steps, Timing{Step: step, MS: d})
}
