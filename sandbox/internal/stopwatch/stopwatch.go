// Package stopwatch splits a run into consecutive named steps: the
// report's breakdown, which `make bench` prints.
package stopwatch

import "time"

// Timing is how long one step of a run took. Steps that happen more than
// once add up.
type Timing struct {
	Step string `json:"step"`
	MS   int64  `json:"ms"`
}

// Stopwatch times consecutive steps, from its creation on.
type Stopwatch struct {
	last  time.Time
	steps []Timing
}

// New starts a stopwatch: its first step begins now.
func New() *Stopwatch { return &Stopwatch{last: time.Now()} }

// Lap ends the current step, naming it.
func (s *Stopwatch) Lap(step string) {
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

// Steps are the steps ended so far, in the order they first ended.
func (s *Stopwatch) Steps() []Timing { return s.steps }
