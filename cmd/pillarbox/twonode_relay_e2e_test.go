package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// nodeSink is a smarthost with one listener per node, so that it knows
// which node handed it each message. Its first DATA on each listener
// waits until both have had one: both nodes are then working the queue
// at once. One recipient's first DATA never gets its reply.
type nodeSink struct {
	addrs [2]string
	hang  string // the recipient whose first DATA hangs

	mu        sync.Mutex
	delivered map[string][]int // recipient → the nodes that delivered it
	started   [2]bool
	both      chan struct{} // closed once both listeners had a DATA
	hung      chan int      // the node whose DATA hangs
	hangDone  bool
	release   chan struct{}
	changed   chan struct{} // a delivery was recorded
}

func startNodeSink(t *testing.T, hang string) *nodeSink {
	t.Helper()
	s := &nodeSink{hang: hang, delivered: map[string][]int{}, both: make(chan struct{}),
		hung: make(chan int, 1), release: make(chan struct{}), changed: make(chan struct{}, 1)}
	for i := range s.addrs {
		cleanup := func() {}
		if i == 0 {
			cleanup = func() { close(s.release) }
		}
		s.addrs[i] = serveSink(t, func() gosmtp.Session { return &nodeSinkSession{s: s, node: i} }, cleanup)
	}
	return s
}

func (s *nodeSink) counts() map[string][]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]int, len(s.delivered))
	for k, v := range s.delivered {
		out[k] = append([]int(nil), v...)
	}
	return out
}

type nodeSinkSession struct {
	s     *nodeSink
	node  int
	rcpts []string
}

func (ss *nodeSinkSession) Reset()                                 { ss.rcpts = nil }
func (ss *nodeSinkSession) Logout() error                          { return nil }
func (ss *nodeSinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (ss *nodeSinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *nodeSinkSession) Data(r io.Reader) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	if !s.started[ss.node] {
		s.started[ss.node] = true
		if s.started[0] && s.started[1] {
			close(s.both)
		}
	}
	hang := !s.hangDone && len(ss.rcpts) == 1 && ss.rcpts[0] == s.hang
	if hang {
		s.hangDone = true
	}
	s.mu.Unlock()
	if hang {
		s.hung <- ss.node
		<-s.release
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 0, 0}, Message: "gone"}
	}
	select {
	case <-s.both:
	case <-s.release:
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 0, 0}, Message: "gone"}
	}
	s.mu.Lock()
	for _, rc := range ss.rcpts {
		s.delivered[rc] = append(s.delivered[rc], ss.node)
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// TestTwoNodesRelay runs two built servers on one PostgreSQL database,
// each relaying to its own listener of one smarthost. A backlog queued
// through node A is drained by both nodes together (the store's feed
// wakes B's relay), each message delivered exactly once. Then the node
// whose attempt hangs is killed with -9, and the other delivers that
// message once its lease ends.
func TestTwoNodesRelay(t *testing.T) {
	t.Parallel()
	const user, pass = "alice@example.test", "pw-alice-relay"
	sink := startNodeSink(t, "hang@remote.test")
	nodes, cfgs := startTwoNodes(t, user, pass, func(i int, c *Config) {
		c.Submission.Listen = "127.0.0.1:0"
		c.Relay.Smarthost = sink.addrs[i]
		// One connection per node, so one node cannot take the whole
		// backlog; the lease of a first attempt is 2 s.
		c.Relay.PerDomain = 1
		c.Relay.Retry = []Duration{{2 * time.Second}, {time.Hour}}
		c.Relay.MaxAge = Duration{2 * time.Hour}
		c.Relay.DelayWarning = Duration{0}
	})

	const backlog = 30
	c := submissionLogin(t, nodes[0].addrs["submission"], "client.example", user, pass, false)
	for k := range backlog {
		rcpt := fmt.Sprintf("r%d@remote.test", k)
		msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: backlog %d\r\n\r\nbody\r\n", user, rcpt, k)
		if err := c.SendMail(user, []string{rcpt}, strings.NewReader(msg)); err != nil {
			t.Fatalf("message %d: %v", k, err)
		}
	}
	deadline := time.After(60 * time.Second)
wait:
	for len(sink.counts()) < backlog {
		select {
		case <-sink.changed:
		case <-deadline:
			break wait
		}
	}
	got := sink.counts()
	var by [2]int
	for k := range backlog {
		rcpt := fmt.Sprintf("r%d@remote.test", k)
		if len(got[rcpt]) != 1 {
			t.Errorf("%s delivered by nodes %v, want exactly once", rcpt, got[rcpt])
			continue
		}
		by[got[rcpt][0]]++
	}
	if by[0] == 0 || by[1] == 0 {
		t.Errorf("node A delivered %d, node B %d: want both to take part", by[0], by[1])
	}
	t.Logf("backlog of %d: node A delivered %d, node B %d", backlog, by[0], by[1])

	// The hanging attempt: whichever node claims it is killed mid-DATA.
	msg := "From: " + user + "\r\nTo: hang@remote.test\r\nSubject: crash\r\n\r\nbody\r\n"
	if err := c.SendMail(user, []string{"hang@remote.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	var dead int
	select {
	case dead = <-sink.hung:
	case <-time.After(30 * time.Second):
		t.Fatal("no node tried hang@remote.test")
	}
	killed := time.Now()
	nodes[dead].kill()
	other := nodes[1-dead]
	other.waitLog(t, `msg="relay: delivered".*rcpt=hang@remote.test`, 30*time.Second)
	t.Logf("node %d killed mid-DATA; node %d delivered after %v", dead, 1-dead, time.Since(killed).Round(time.Millisecond))
	if d := sink.counts()["hang@remote.test"]; len(d) != 1 || d[0] != 1-dead {
		t.Errorf("hang@remote.test delivered by nodes %v, want once by node %d", d, 1-dead)
	}
	if list := mustCLI(t, "", "queue", "list", "--config", cfgs[1-dead]); list != "the queue is empty\n" {
		t.Errorf("queue after delivery:\n%s", list)
	}
	if !regexp.MustCompile(`msg="relay: delivered"`).MatchString(nodes[1].log()) {
		t.Errorf("node B's log shows no delivery:\n%s", nodes[1].log())
	}
}
