package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
	"pillarbox/smtp"
	"pillarbox/store"
	"pillarbox/store/sqlite"
)

// scrape fetches url and returns each sample of its counters and gauges,
// and each histogram's count and sum, by name{labels} with the labels
// sorted, e.g. `pillarbox_smtp_rejections_total{listener="smtp",reason="size"}`.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[key] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// startAdmin serves an admin server for m over db on 127.0.0.1:0 and
// returns its base URL.
func startAdmin(t *testing.T, m *metrics, check func(context.Context) error, now func() time.Time) string {
	t.Helper()
	a := newAdminServer(m, check, now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	t.Cleanup(func() {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminServer: /metrics and /healthz and nothing else; /healthz
// turns 503 when the store can no longer write.
func TestAdminServer(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{ObserveCommit: m.observeCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m.watchStore(db)
	var clock atomic.Int64 // seconds
	base := startAdmin(t, m, db.CheckWritable, func() time.Time { return time.Unix(clock.Load(), 0) })

	if code, body := get(t, "GET", base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}
	got := scrape(t, base+"/metrics")
	for _, name := range []string{`pillarbox_queue_items{state="queued"}`, `pillarbox_queue_items{state="held"}`,
		"pillarbox_queue_oldest_age_seconds", "pillarbox_search_index_backlog", "go_goroutines", "process_open_fds"} {
		if _, ok := got[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	// The /healthz check above committed one write.
	if got["pillarbox_store_commit_batch_requests_count"] < 1 {
		t.Errorf("no commit observed: %v", got["pillarbox_store_commit_batch_requests_count"])
	}
	for _, p := range []string{"/", "/metrics/x", "/debug/pprof/", "/healthz/"} {
		if code, _ := get(t, "GET", base+p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	if code, _ := get(t, "POST", base+"/healthz"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", code)
	}

	db.Close()
	clock.Add(1) // past healthFresh, or the last result answers
	if code, body := get(t, "GET", base+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "closed") {
		t.Errorf("/healthz on a closed store: %d %q, want 503 naming the error", code, body)
	}
	// The store's gauges fail with it; the others are still served.
	got = scrape(t, base+"/metrics")
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("a closed store took the other metrics down")
	}
	if _, ok := got[`pillarbox_queue_items{state="queued"}`]; ok {
		t.Error("queue gauges served from a closed store")
	}
}

// TestHealthOneCheckAtATime: requests while a check hangs share it and
// get 503 at the timeout; the next request after it ends starts anew.
func TestHealthOneCheckAtATime(t *testing.T) {
	t.Parallel()
	var started atomic.Int32
	release := make(chan struct{})
	var clock atomic.Int64 // seconds
	h := &health{timeout: 100 * time.Millisecond, check: func(ctx context.Context) error {
		started.Add(1)
		<-release
		return errors.New("stuck")
	}, now: func() time.Time { return time.Unix(clock.Load(), 0) }}
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- h.run(context.Background()) }()
	}
	for range 3 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "within") {
			t.Errorf("hanging check: %v, want a timeout", err)
		}
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d checks started for three requests, want 1", n)
	}
	close(release)
	h.check = func(context.Context) error { return nil }
	// The hanging check ends and clears itself; wait for that rather
	// than for time.
	for {
		h.mu.Lock()
		r := h.running
		h.mu.Unlock()
		if r == nil {
			break
		}
		<-r.done
	}
	clock.Add(1) // past healthFresh: a new check, not the hung one's result
	if err := h.run(context.Background()); err != nil {
		t.Errorf("after the hang: %v", err)
	}
}

// TestHealthReusesFreshResult: requests one after another within
// healthFresh share one check, so that hammering /healthz does not make
// a committed write each; after it, a new check runs.
func TestHealthReusesFreshResult(t *testing.T) {
	t.Parallel()
	var checks atomic.Int32
	var clock atomic.Int64 // milliseconds
	h := &health{timeout: time.Second, check: func(context.Context) error {
		checks.Add(1)
		return nil
	}, now: func() time.Time { return time.UnixMilli(clock.Load()) }}
	for range 10 {
		if err := h.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.Add(50)
	}
	if n := checks.Load(); n != 1 {
		t.Fatalf("%d checks for 10 requests within %v, want 1", n, healthFresh)
	}
	clock.Add(int64(healthFresh / time.Millisecond))
	h.run(context.Background())
	if n := checks.Load(); n != 2 {
		t.Fatalf("%d checks after %v, want 2", n, healthFresh)
	}
}

// TestHooksCount: each hook counts under its labels.
func TestHooksCount(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	base := startAdmin(t, m, func(context.Context) error { return nil }, nil)
	mx, sub := m.smtpMX(), m.smtpSubmission()
	mx.Received()
	mx.Refused(smtp.RefusedRcptUnknown)
	mx.Refused(smtp.RefusedRcptUnknown)
	mx.Refused(smtp.RefusalCount + 3) // out of range: other
	sub.Login(mailbox.LoginFailed)
	sub.Login(mailbox.LoginSucceeded)
	m.loginHook("imap")(mailbox.LoginThrottled)
	m.deliveredLocal(2)
	m.relayAttempt(mailbox.QueueDeferred)
	m.relayAttempt(mailbox.QueueDelivered)
	m.relayAttempt(mailbox.QueueOutcome(99))
	m.relayBounce()
	m.refusedConns("smtp")(netlimit.RefusedMaxConnsPerIP)
	m.refusedConns("smtp")("connections_per_minute")
	m.refusedConns("smtp")("something new")
	m.observeCommit(3, 2*time.Millisecond)

	got := scrape(t, base+"/metrics")
	want := map[string]float64{
		`pillarbox_messages_received_total{listener="smtp"}`:                                   1,
		`pillarbox_messages_received_total{listener="submission"}`:                             0,
		`pillarbox_smtp_rejections_total{listener="smtp",reason="rcpt_unknown"}`:               2,
		`pillarbox_smtp_rejections_total{listener="smtp",reason="other"}`:                      1,
		`pillarbox_smtp_rejections_total{listener="submission",reason="size"}`:                 0,
		`pillarbox_logins_total{protocol="submission",result="failure"}`:                       1,
		`pillarbox_logins_total{protocol="submission",result="success"}`:                       1,
		`pillarbox_logins_total{protocol="imap",result="throttled"}`:                           1,
		`pillarbox_logins_total{protocol="imap",result="success"}`:                             0,
		`pillarbox_logins_total{protocol="smtp",result="success"}`:                             -1, // the MX has no logins
		`pillarbox_messages_delivered_local_total`:                                             2,
		`pillarbox_relay_attempts_total{result="deferred"}`:                                    1,
		`pillarbox_relay_attempts_total{result="delivered"}`:                                   1,
		`pillarbox_relay_attempts_total{result="failed"}`:                                      0,
		`pillarbox_relay_bounces_total`:                                                        1,
		`pillarbox_connections_refused_total{listener="smtp",reason="max_connections_per_ip"}`: 1,
		`pillarbox_connections_refused_total{listener="smtp",reason="connections_per_minute"}`: 1,
		`pillarbox_connections_refused_total{listener="smtp",reason="other"}`:                  1,
		`pillarbox_store_commit_batch_requests_count`:                                          1,
		`pillarbox_store_commit_batch_requests_sum`:                                            3,
		`pillarbox_store_commit_duration_seconds_sum`:                                          0.002,
	}
	for k, v := range want {
		if g, ok := got[k]; v < 0 {
			if ok {
				t.Errorf("%s is served", k)
			}
		} else if !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// TestHooksDoNotAllocate: the hooks on the mail path cost an atomic
// add, no allocation (the labelled children are looked up once).
func TestHooksDoNotAllocate(t *testing.T) {
	m := newMetrics()
	mx, sub := m.smtpMX(), m.smtpSubmission()
	login := m.loginHook("imap")
	refused := m.refusedConns("smtp")
	if n := testing.AllocsPerRun(100, func() {
		mx.Received()
		mx.Refused(smtp.RefusedRelayDenied)
		mx.Login(mailbox.LoginFailed)
		sub.Login(mailbox.LoginFailed)
		login(mailbox.LoginSucceeded)
		m.deliveredLocal(1)
		m.relayAttempt(mailbox.QueueDeferred)
		m.observeCommit(4, time.Millisecond)
		refused(netlimit.RefusedMaxConns)
	}); n != 0 {
		t.Errorf("hooks allocate %v times per call", n)
	}
}

// TestMetricsLint: names, units and help follow Prometheus's
// conventions, as promlint checks them.
func TestMetricsLint(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := newMetrics()
	m.watchStore(db)
	m.smtpMX().Received()
	m.smtpSubmission().Login(mailbox.LoginFailed)
	m.loginHook("imap")(mailbox.LoginSucceeded)
	m.relayAttempt(mailbox.QueueDelivered)
	m.refusedConns("smtp")(netlimit.RefusedMaxConns)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "pillarbox_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestAdminKeepAlive: behind a netlimit listener, as serve puts it, the
// admin server answers several requests on one connection. net/http
// ends the background read of each request with a deadline in the past,
// which a netlimit.Conn would take as a final timeout.
func TestAdminKeepAlive(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	a := newAdminServer(m, func(context.Context) error { return nil }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := m.countConns("admin", netlimit.NewListener(inner, netlimit.Options{MaxConns: 10,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	defer func() {
		a.Shutdown(context.Background())
		<-served
	}()
	base := "http://" + inner.Addr().String()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	for i := range 3 {
		resp, err := c.Get(base + "/healthz")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
	// The scrape comes on a second connection, its client's own.
	got := scrape(t, base+"/metrics")
	if n := got[`pillarbox_connections_accepted_total{listener="admin"}`]; n != 2 {
		t.Errorf("three requests on one client and a scrape took %v connections, want 2", n)
	}
}

// TestStoreGauges: the queue's items by state and the age of the oldest
// queued one, read at scrape time.
func TestStoreGauges(t *testing.T) {
	t.Parallel()
	// The indexer must not take the text in before the scrape.
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.UnixMilli(1_800_000_000_000)
	m := newMetrics()
	m.now = func() time.Time { return t0.Add(90 * time.Second) }
	m.watchStore(db)
	err = db.Write(context.Background(), func(tx store.Tx) error {
		blob, err := tx.InsertBlob(&store.Blob{Data: []byte("Subject: q\r\n\r\nx\r\n"), MessageID: "q@x", Envelope: []byte("{}"), Structure: []byte("{}")})
		if err != nil {
			return err
		}
		for i, rcpt := range []string{"held@remote.test", "a@remote.test", "b@remote.test"} {
			id, err := tx.Enqueue(store.NewQueueItem{BlobID: blob, Sender: "s@example.test", Recipient: rcpt, Domain: "remote.test",
				Created: t0.Add(time.Duration(i) * 30 * time.Second), NextAttempt: t0})
			if err != nil {
				return err
			}
			if i == 0 {
				if err := tx.SetQueueState(id, store.QueueHeld, t0); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	base := startAdmin(t, m, db.CheckWritable, nil)
	got := scrape(t, base+"/metrics")
	// The held item is the oldest, but not queued: the age is the
	// second item's, created at t0+30s.
	for k, v := range map[string]float64{`pillarbox_queue_items{state="queued"}`: 2, `pillarbox_queue_items{state="held"}`: 1,
		"pillarbox_queue_oldest_age_seconds": 60, "pillarbox_search_index_backlog": 1} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// BenchmarkMessageHooks is what the metrics add to one received
// message: received, delivered to one account, and one commit observed
// (an upper bound: commits are shared).
func BenchmarkMessageHooks(b *testing.B) {
	m := newMetrics()
	mx := m.smtpMX()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mx.Received()
			m.deliveredLocal(1)
			m.observeCommit(1, time.Millisecond)
		}
	})
}
