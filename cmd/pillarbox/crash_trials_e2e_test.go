package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

var (
	crashTrials = flag.Int("crash.trials", 2, "number of kill -9 trials in TestCrashTrials (the hostile round ran 25)")
	crashSeed   = flag.Int64("crash.seed", 0, "seed for TestCrashTrials' kill moments; 0 takes one from the clock and logs it")
)

// crashSenders is how many clients send at once in a crash trial.
const crashSenders = 8

// TestCrashTrials kills the server with SIGKILL at a random moment while
// clients send as fast as they can, restarts it, and checks through the
// store that every message that got a 250 is in every one of its
// recipients' INBOX exactly once, and that no message is stored twice.
// The trials share one data directory, so each one also restarts from
// the previous crash. -crash.trials=N runs more; -crash.seed=S repeats
// the kill moments of a logged seed.
func TestCrashTrials(t *testing.T) {
	t.Parallel()
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("crash trials: seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	sink := startCountingSink(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := writeServeConfig(t, dataDir, func(c *Config) { c.Relay.Smarthost = sink.addr })
	mustCLI(t, "password\n", "user", "add", "alice@example.test", "--password-stdin", "--config", cfg)
	mustCLI(t, "password\n", "user", "add", "bob@example.test", "--password-stdin", "--config", cfg)

	acked := map[string][]string{} // Message-ID → its recipients, for every 250
	lost, duplicated, unacked := 0, 0, 0
	for trial := range *crashTrials {
		srv := startServer(t, cfg, dir)
		// The kill comes after the first 250 and a random wait of up to
		// half a second, so that it lands anywhere in the stream: between
		// messages, inside DATA, during a commit.
		delay := time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
		got, sent := crashTrial(t, srv, trial, delay)
		for id, rcpts := range got {
			acked[id] = rcpts
		}
		srv = startServer(t, cfg, dir)
		srv.stop(t)

		stored := storedMessageIDs(t, dataDir, "alice@example.test", "bob@example.test")
		trialLost, trialDup := 0, 0
		for id, rcpts := range acked {
			for _, r := range rcpts {
				switch n := stored[r][id]; {
				case n == 0:
					trialLost++
					t.Errorf("trial %d: acknowledged message %s is not in %s's INBOX", trial, id, r)
				case n > 1:
					trialDup++
					t.Errorf("trial %d: acknowledged message %s is %d times in %s's INBOX", trial, id, n, r)
				}
			}
		}
		for r, ids := range stored {
			for id, n := range ids {
				if _, ok := acked[id]; !ok && n > 1 {
					trialDup++
					t.Errorf("trial %d: unacknowledged message %s is %d times in %s's INBOX", trial, id, n, r)
				}
			}
		}
		lost += trialLost
		duplicated += trialDup
		inTrial := 0
		for id := range stored["alice@example.test"] {
			if strings.HasPrefix(id, fmt.Sprintf("crash-%d-", trial)) {
				inTrial++
			}
		}
		unacked += inTrial - len(got)
		t.Logf("trial %d: killed %v after the first 250; %d sent, %d acknowledged, %d stored (%d without a 250), lost %d, duplicated %d",
			trial, delay.Round(time.Millisecond), sent, len(got), inTrial, inTrial-len(got), trialLost, trialDup)
	}
	if n := len(sink.rcpts()); n != 0 {
		t.Errorf("the smarthost saw %d recipients", n)
	}
	t.Logf("crash trials: %d, acknowledged %d, lost %d, duplicated %d (%d stored without a 250 before the kill)",
		*crashTrials, len(acked), lost, duplicated, unacked)
}

// crashTrial runs the senders against srv, kills it delay after the
// first acknowledged message, and returns the acknowledged Message-IDs
// with their recipients and how many messages were started.
func crashTrial(t *testing.T, srv *serveProc, trial int, delay time.Duration) (map[string][]string, int) {
	t.Helper()
	var (
		mu    sync.Mutex
		acked = map[string][]string{}
		sent  int
		wg    sync.WaitGroup
		once  sync.Once
	)
	first := make(chan struct{})
	failed := make(chan error, crashSenders)
	for i := range crashSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(srv.addrs["smtp"])
			if err != nil {
				failed <- err
				return
			}
			defer c.Close()
			c.CommandTimeout, c.SubmissionTimeout = 30*time.Second, 30*time.Second
			for j := 0; ; j++ {
				id := fmt.Sprintf("crash-%d-%d-%d@example.net", trial, i, j)
				rcpts := []string{"alice@example.test"}
				if j%3 == 2 {
					rcpts = append(rcpts, "bob@example.test")
				}
				mu.Lock()
				sent++
				mu.Unlock()
				if err := sendNumbered(c, id, rcpts, i, j); err != nil {
					return // the server is gone: this one may or may not be stored
				}
				mu.Lock()
				acked[id] = rcpts
				mu.Unlock()
				once.Do(func() { close(first) })
			}
		}()
	}
	select {
	case <-first:
	case err := <-failed:
		t.Fatalf("trial %d: a sender could not connect: %v", trial, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("trial %d: no message acknowledged within 30s", trial)
	}
	<-time.After(delay)
	srv.kill()
	wg.Wait()
	return acked, sent
}

// sendNumbered sends one message in one transaction.
func sendNumbered(c *gosmtp.Client, id string, rcpts []string, i, j int) error {
	if err := c.Mail("sender@example.net", nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: sender@example.net\r\nSubject: crash %d/%d\r\nMessage-ID: <%s>\r\n\r\n%s\r\n",
		i, j, id, strings.Repeat("body line of a numbered message\r\n", 20+j%50))
	return w.Close()
}

// storedMessageIDs counts each Message-ID in the INBOX of each address,
// from a stopped server's store, which it closes again.
func storedMessageIDs(t *testing.T, dataDir string, addresses ...string) map[string]map[string]int {
	t.Helper()
	db := openDataStore(t, dataDir)
	defer db.Close()
	out := map[string]map[string]int{}
	for _, a := range addresses {
		out[a] = messageIDs(t, db, a, "INBOX")
	}
	return out
}
