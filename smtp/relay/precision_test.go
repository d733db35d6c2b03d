package relay

import (
	"context"
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

// An operator's retry while an item waits is a try of its own, not a
// step of the backoff: when it fails too, the next wait is the one the
// item had, and the attempts still count every try.
func TestManualRetryKeepsBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sink.setScript("bob@remote.test", 451, 451, 451, 451)
	res := e.submit("retry", "bob@remote.test")
	opts := e.options()
	opts.Schedule.Retry = []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}
	opts.Schedule.MaxAge = time.Hour
	e.start(opts)
	if next := e.waitIdle(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the first try: next %v", next)
	}
	e.clock.Set(t0.Add(time.Minute))
	if next := e.waitIdle(); !next.Equal(t0.Add(3 * time.Minute)) {
		t.Fatalf("after the second try: next %v, want 2 minutes on", next)
	}
	// The operator retries at once; that try fails as well.
	if n, err := e.svc.QueueRetry(context.Background(), res.Queued[0]); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	e.runner.Kick()
	if next := e.waitIdle(); !next.Equal(t0.Add(3 * time.Minute)) {
		t.Fatalf("after the manual try: next %v, want %v (2 minutes on, as before it, not 4)", next, t0.Add(3*time.Minute))
	}
	if q := e.queue(); len(q) != 1 || q[0].Attempts != 3 {
		t.Fatalf("queue %+v, want 3 attempts counted", q)
	}
}
