package relay

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	m := time.Minute
	s := Schedule{Retry: []time.Duration{5 * m, 10 * m, 20 * m}, MaxAge: 120 * m, DelayWarning: 60 * m}
	// Each row is one deferral: the attempt number, when it was
	// deferred, and the next attempt it gets (zero: expired).
	cases := []struct {
		attempts int
		now      time.Duration
		next     time.Duration
		expired  bool
		warn     bool
	}{
		{1, 0, 5 * m, false, false},
		{2, 5 * m, 15 * m, false, false},
		{3, 15 * m, 35 * m, false, false},
		{4, 35 * m, 55 * m, false, false},   // the last step repeats
		{5, 55 * m, 60 * m, false, false},   // clamped to the delay warning
		{6, 60 * m, 80 * m, false, true},    // warned at exactly 60m
		{7, 80 * m, 100 * m, false, true},   //
		{8, 100 * m, 120 * m, false, true},  // ends exactly at max age
		{9, 120 * m, 0, true, true},         // at max age: give up
		{9, 119 * m, 120 * m, false, true},  // late attempt: clamped to max age
		{2, 200 * m, 0, true, true},         // long after max age
		{0, 0, 5 * m, false, false},         // attempts below 1 use the first step
		{100, 30 * m, 50 * m, false, false}, // far past the table
		{1, 58 * m, 60 * m, false, false},   // a first attempt late in life
		{1, 61 * m, 66 * m, false, true},    // after the warning time: no clamp
		{3, 115*m + 30*time.Second, 120 * m, false, true},
	}
	for _, c := range cases {
		next, expired := s.Next(t0, at(c.now), c.attempts)
		var want time.Time
		if !c.expired {
			want = at(c.next)
		}
		if expired != c.expired || !next.Equal(want) {
			t.Errorf("Next(attempt %d at +%v) = %v, %v; want %v, %v", c.attempts, c.now, next.Sub(t0), expired, c.next, c.expired)
		}
		if w := s.Warn(t0, at(c.now)); w != c.warn {
			t.Errorf("Warn(+%v) = %v, want %v", c.now, w, c.warn)
		}
	}

	// Without a delay warning nothing is clamped to it and nobody is
	// warned.
	s.DelayWarning = 0
	if next, _ := s.Next(t0, at(55*m), 5); !next.Equal(at(75 * m)) {
		t.Errorf("without warning: next %v, want +75m", next.Sub(t0))
	}
	if s.Warn(t0, at(1000*m)) {
		t.Error("Warn with DelayWarning 0")
	}

	// A whole schedule with the defaults of the configuration.
	d := Schedule{Retry: []time.Duration{5 * m, 10 * m, 20 * m, 40 * m, 80 * m, 160 * m}, MaxAge: 120 * time.Hour, DelayWarning: 4 * time.Hour}
	var got []time.Duration
	now := t0
	for n := 1; ; n++ {
		next, expired := d.Next(t0, now, n)
		if expired {
			break
		}
		got = append(got, next.Sub(t0))
		now = next
	}
	want := []time.Duration{5 * m, 15 * m, 35 * m, 75 * m, 155 * m, 240 * m, 400 * m, 560 * m}
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("default schedule attempt %d at +%v, want +%v (all: %v)", i+2, got[i], w, got[:len(want)])
		}
	}
	if last := got[len(got)-1]; last != 120*time.Hour {
		t.Errorf("last attempt at +%v, want +120h", last)
	}
	// 8 above, 41 more every 160m up to +7120m, and one at +7200m.
	if len(got) != 50 {
		t.Errorf("%d retries in 120h, want 50", len(got))
	}
}

func TestScheduleLease(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := Schedule{Retry: []time.Duration{time.Minute, time.Hour}, MaxAge: time.Hour}
	for _, c := range []struct {
		attempts int
		want     time.Duration
	}{{1, time.Minute}, {2, time.Hour}, {9, time.Hour}} {
		if got := s.Lease(t0, c.attempts); !got.Equal(t0.Add(c.want)) {
			t.Errorf("Lease(attempt %d) = +%v, want +%v", c.attempts, got.Sub(t0), c.want)
		}
	}
}
