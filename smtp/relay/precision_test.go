package relay

import (
	"testing"
	"time"
)

// With retry = ["1s", "2s"], the first retry comes one second after the
// first attempt, even when that attempt was not on a whole second: due
// times used to be stored in whole seconds, rounded down, so that the
// retry of an attempt at 0.7 s came at 1.0 s, 0.3 s later.
func TestRetryKeepsSubSecondPrecision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	start := t0.Add(700 * time.Millisecond)
	e.clock.Set(start)
	e.sink.setScript("bob@remote.test", 451, 451, 250)
	e.submit("precision", "bob@remote.test")
	opts := e.options()
	opts.Schedule.Retry = []time.Duration{time.Second, 2 * time.Second}
	e.start(opts)

	moves := e.runSchedule()
	ms := time.Millisecond
	if got, want := durations(moves...), durations(1700*ms, 3700*ms); got != want {
		t.Errorf("clock moves %s, want %s", got, want)
	}
	if got, want := durations(e.sink.rcptTimes("bob@remote.test")...), durations(700*ms, 1700*ms, 3700*ms); got != want {
		t.Errorf("bob tried at %s, want %s", got, want)
	}
	item := e.waitMsg()
	if item.rcpts[0] != "bob@remote.test" {
		t.Errorf("sink got %v", item.rcpts)
	}
}
