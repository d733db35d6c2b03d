package mailbox

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	th := NewThrottle(ThrottleOptions{Base: time.Second, Max: 4 * time.Second, Forget: time.Minute, Now: func() time.Time { return now }})
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := th.Delay("1.2.3.4"); got != w {
			t.Fatalf("after %d failures: delay %v, want %v", i, got, w)
		}
		th.Fail("1.2.3.4")
	}
	if got := th.Delay("5.6.7.8"); got != 0 {
		t.Fatalf("other source delayed %v", got)
	}
	now = now.Add(2 * time.Minute)
	if got := th.Delay("1.2.3.4"); got != 0 {
		t.Fatalf("not forgotten after quiet period: %v", got)
	}
	th.Fail("1.2.3.4")
	th.Succeed("1.2.3.4")
	if got := th.Delay("1.2.3.4"); got != 0 {
		t.Fatalf("success did not reset: %v", got)
	}
}
