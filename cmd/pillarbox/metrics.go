package main

import (
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"pillarbox/mailbox"
	"pillarbox/mailbox/netlimit"
	"pillarbox/smtp"
)

// metrics are one serve's Prometheus metrics, in a registry of their
// own, fed by the packages' hooks (smtp.Options.Metrics,
// imap.Options.OnLogin, relay.Options.OnAttempt, sqlite.Options.
// ObserveCommit, ...), which know nothing of Prometheus. Every labelled
// child a hook touches is looked up once, when the hook is made, so
// that counting costs an atomic add and no allocation.
//
// What the metrics mean is in metricsHelp's strings, and in the README.
type metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	received    *prometheus.CounterVec // listener
	rejected    *prometheus.CounterVec // listener, reason
	delivered   prometheus.Counter
	attempts    [4]prometheus.Counter // by mailbox.QueueOutcome
	bounces     prometheus.Counter
	accepted    *prometheus.CounterVec // listener
	connRefused *prometheus.CounterVec // listener, reason
	logins      *prometheus.CounterVec // protocol, result
	batch       prometheus.Histogram
	commit      prometheus.Histogram

	// conns are the listeners whose open connections a scrape counts.
	connsMu sync.Mutex
	conns   map[string][]*netlimit.Listener
}

// newMetrics makes the registry with the Go runtime's and the process's
// collectors and Pillarbox's own metrics.
func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		now: time.Now,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pillarbox_messages_received_total",
			Help: "Messages accepted with 250 after DATA, by listener (smtp: the MX; submission: from logged-in users)."}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pillarbox_smtp_rejections_total",
			Help: "MAIL, RCPT, DATA and AUTH commands refused, by listener and reason."}, []string{"listener", "reason"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "pillarbox_messages_delivered_local_total",
			Help: "Messages stored in local mailboxes, one per receiving account, notices to local senders included."}),
		bounces: prometheus.NewCounter(prometheus.CounterOpts{Name: "pillarbox_relay_bounces_total",
			Help: "Failure notices (bounces) sent or queued to senders by the relay."}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pillarbox_connections_accepted_total",
			Help: "Connections accepted within the caps, by listener."}, []string{"listener"}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pillarbox_connections_refused_total",
			Help: "Connections refused by a cap or rate limit before any work, by listener and reason."}, []string{"listener", "reason"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pillarbox_logins_total",
			Help: "Login attempts by protocol and result (success, failure, throttled: refused without checking the password, error)."},
			[]string{"protocol", "result"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pillarbox_store_commit_batch_requests",
			Help:    "Write requests that shared one committed transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9)}), // 1 … 256, the writer's batch limit
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pillarbox_store_commit_duration_seconds",
			Help:    "Time of one committed write transaction, from BEGIN to the durable COMMIT.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}), // 0.5 ms … 4 s
		conns: map[string][]*netlimit.Listener{},
	}
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pillarbox_relay_attempts_total",
		Help: "Relay delivery attempts per recipient, by result (delivered, deferred, failed: refused for good or expired)."},
		[]string{"result"})
	m.attempts[mailbox.QueueDelivered] = attempts.WithLabelValues("delivered")
	m.attempts[mailbox.QueueDeferred] = attempts.WithLabelValues("deferred")
	m.attempts[mailbox.QueueFailed] = attempts.WithLabelValues("failed")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.received, m.rejected, m.delivered, attempts, m.bounces, m.accepted, m.connRefused, m.logins, m.batch, m.commit,
		openConns{m: m, desc: prometheus.NewDesc("pillarbox_connections_open", "Connections open now, by listener.", []string{"listener"}, nil)})
	return m
}

// observeCommit is sqlite.Options.ObserveCommit.
func (m *metrics) observeCommit(requests int, took time.Duration) {
	m.batch.Observe(float64(requests))
	m.commit.Observe(took.Seconds())
}

// deliveredLocal is mailbox.Options.OnDelivered.
func (m *metrics) deliveredLocal(accounts int) { m.delivered.Add(float64(accounts)) }

// relayAttempt is relay.Options.OnAttempt.
func (m *metrics) relayAttempt(o mailbox.QueueOutcome) {
	if int(o) < len(m.attempts) && m.attempts[o] != nil {
		m.attempts[o].Inc()
	}
}

// relayBounce is relay.Options.OnBounce.
func (m *metrics) relayBounce() { m.bounces.Inc() }

// loginResults are the result labels of mailbox.LoginOutcome's values.
var loginResults = [...]string{mailbox.LoginSucceeded: "success", mailbox.LoginFailed: "failure",
	mailbox.LoginThrottled: "throttled", mailbox.LoginError: "error"}

// loginHook counts the logins of protocol (imap.Options.OnLogin).
func (m *metrics) loginHook(protocol string) func(mailbox.LoginOutcome) {
	var c [len(loginResults)]prometheus.Counter
	for i, r := range loginResults {
		c[i] = m.logins.WithLabelValues(protocol, r)
	}
	return func(o mailbox.LoginOutcome) {
		if int(o) < len(c) {
			c[o].Inc()
		}
	}
}

// smtpMetrics is smtp.Options.Metrics for one listener label.
type smtpMetrics struct {
	received prometheus.Counter
	refused  [smtp.RefusalCount]prometheus.Counter
	login    func(mailbox.LoginOutcome) // nil on the MX, which has no logins
}

// smtpMX returns the MX's hooks (listener "smtp").
func (m *metrics) smtpMX() smtp.Metrics { return m.smtpHooks("smtp", false) }

// smtpSubmission returns the hooks of both submission listeners
// (listener and login protocol "submission").
func (m *metrics) smtpSubmission() smtp.Metrics { return m.smtpHooks("submission", true) }

func (m *metrics) smtpHooks(listener string, logins bool) *smtpMetrics {
	s := &smtpMetrics{received: m.received.WithLabelValues(listener)}
	if logins {
		s.login = m.loginHook(listener)
	}
	for r := range smtp.RefusalCount {
		s.refused[r] = m.rejected.WithLabelValues(listener, r.String())
	}
	return s
}

func (s *smtpMetrics) Received() { s.received.Inc() }

func (s *smtpMetrics) Refused(r smtp.Refusal) {
	if r >= smtp.RefusalCount {
		r = smtp.RefusedOther
	}
	s.refused[r].Inc()
}

func (s *smtpMetrics) Login(o mailbox.LoginOutcome) {
	if s.login != nil {
		s.login(o)
	}
}

// connRefusalReasons are the reasons netlimit gives Options.Refused;
// anything else is counted as "other".
var connRefusalReasons = []string{netlimit.RefusedMaxConns, netlimit.RefusedMaxConnsPerIP, netlimit.RefusedConnRate, netlimit.RefusedTotal}

// refusedConns counts the connections refused on listener name
// (netlimit.Options.Refused).
func (m *metrics) refusedConns(name string) func(reason string) {
	known := make(map[string]prometheus.Counter, len(connRefusalReasons))
	for _, r := range connRefusalReasons {
		known[r] = m.connRefused.WithLabelValues(name, r)
	}
	other := m.connRefused.WithLabelValues(name, "other")
	return func(reason string) {
		if c, ok := known[reason]; ok {
			c.Inc()
			return
		}
		other.Inc()
	}
}

// countConns counts the connections ln accepts, and has scrapes count
// its open ones, under the label name.
func (m *metrics) countConns(name string, ln *netlimit.Listener) net.Listener {
	m.connsMu.Lock()
	m.conns[name] = append(m.conns[name], ln)
	m.connsMu.Unlock()
	return countingListener{Listener: ln, accepted: m.accepted.WithLabelValues(name)}
}

// countingListener counts what its Listener accepts.
type countingListener struct {
	net.Listener
	accepted prometheus.Counter
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Inc()
	}
	return c, err
}

// openConns reports the open connections of each listener at scrape
// time, from the netlimit listeners' own counts: nothing is counted per
// connection for it.
type openConns struct {
	m    *metrics
	desc *prometheus.Desc
}

func (o openConns) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o openConns) Collect(ch chan<- prometheus.Metric) {
	o.m.connsMu.Lock()
	defer o.m.connsMu.Unlock()
	for name, lns := range o.m.conns {
		n := 0
		for _, ln := range lns {
			n += ln.Open()
		}
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(n), name)
	}
}
