package relay

import (
	"fmt"
	"testing"
	"time"
)

// A backlog for one domain, queued first and larger than anything the
// scheduler reads at once, does not hold up another domain while the
// busy domain's connections are all in use: the scheduler used to read
// the 1,000 earliest due items only, all of them for the busy domain,
// and left the other domain's message (and every free connection) idle
// until the backlog shrank.
func TestBacklogDoesNotHoldUpOtherDomains(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.options()
	o.PerDomain = 1
	o.Resolver = fakeResolver{"remote.test": {{Host: "mx.remote.test.", Pref: 10}}, "other.test": {{Host: "mx.other.test", Pref: 10}}}
	other := startSink(t, e.clock.Now, nil)
	e.dialer.set("mx.other.test:25", other.addr)
	gate := make(chan struct{})
	e.sink.mu.Lock()
	e.sink.gate, e.sink.arrivals = gate, make(chan string, 100)
	e.sink.mu.Unlock()
	// The sink reports every RCPT on a buffered channel: keep it empty.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-e.sink.rcpts:
			case <-stop:
				return
			}
		}
	}()
	// 80 messages of 20 recipients: 1,600 due items for remote.test,
	// then one for other.test.
	const msgs, perMsg = 80, 20
	for i := range msgs {
		rcpts := make([]string, perMsg)
		for j := range rcpts {
			rcpts[j] = fmt.Sprintf("r%d@remote.test", i*perMsg+j)
		}
		e.submit(fmt.Sprintf("backlog %d", i), rcpts...)
	}
	e.submit("other", "x@other.test")
	e.start(o)

	select {
	case <-e.sink.arrivals:
	case <-time.After(waitLimit):
		t.Fatalf("remote.test's connection did not arrive; log:\n%s", e.logs)
	}
	select {
	case m := <-other.msgs:
		if len(m.rcpts) != 1 || m.rcpts[0] != "x@other.test" {
			t.Errorf("other.test got %v", m.rcpts)
		}
	case <-time.After(waitLimit):
		t.Fatal("other.test held up behind remote.test's backlog")
	}
	close(gate)
	got := 0
	for got < msgs*perMsg {
		m := e.waitMsg()
		got += len(m.rcpts)
	}
	if next := e.waitIdle(); !next.IsZero() {
		t.Fatalf("still queued: %d items", len(e.queue()))
	}
	e.sink.mu.Lock()
	defer e.sink.mu.Unlock()
	if e.sink.max != 1 {
		t.Errorf("at most %d connections to remote.test at once, want 1", e.sink.max)
	}
}
