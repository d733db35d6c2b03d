package main

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pillarbox/store"
)

// storeScrapeTimeout bounds the store's queries of one scrape. They read
// indexes only (store.QueueCounts), from the lookup pool, but a scrape
// must not pile up behind a busy disk either.
const storeScrapeTimeout = 2 * time.Second

// storeGauges reports what is state rather than events, computed at
// scrape time from the store: the queue by state, the age of its oldest
// queued item and the search index's backlog. Nothing on the mail path
// keeps them up to date, and the CLI's changes from another process
// (queue hold, delete) show too.
type storeGauges struct {
	// one lets a single scrape query at a time: the queries use the
	// lookup pool that RCPT and logins share, and concurrent scrapes
	// must not take more than one of its connections.
	one                    *sync.Mutex
	db                     store.Store
	now                    func() time.Time
	queue, oldest, backlog *prometheus.Desc
}

// watchStore registers db's gauges.
func (m *metrics) watchStore(db store.Store) {
	m.reg.MustRegister(storeGauges{one: new(sync.Mutex), db: db, now: m.now,
		queue: prometheus.NewDesc("pillarbox_queue_items", "Outbound queue items (one per recipient) by state: queued, or held by the operator.",
			[]string{"state"}, nil),
		oldest: prometheus.NewDesc("pillarbox_queue_oldest_age_seconds",
			"Age of the oldest queued (not held) item; 0 when none is queued.", nil, nil),
		backlog: prometheus.NewDesc("pillarbox_search_index_backlog",
			"Stored messages whose text waits for the search indexer (SEARCH still finds them).", nil, nil),
	})
}

func (g storeGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.queue
	ch <- g.oldest
	ch <- g.backlog
}

// Collect runs the queries; one that fails is reported as the scrape's
// error for its metrics, and the others are still served.
func (g storeGauges) Collect(ch chan<- prometheus.Metric) {
	g.one.Lock()
	defer g.one.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeScrapeTimeout)
	defer cancel()
	if c, err := g.db.QueueCounts(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(g.queue, err)
	} else {
		ch <- prometheus.MustNewConstMetric(g.queue, prometheus.GaugeValue, float64(c.Queued), "queued")
		ch <- prometheus.MustNewConstMetric(g.queue, prometheus.GaugeValue, float64(c.Held), "held")
		age := 0.0
		if !c.OldestQueued.IsZero() {
			age = max(g.now().Sub(c.OldestQueued).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(g.oldest, prometheus.GaugeValue, age)
	}
	if n, err := g.db.IndexBacklog(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(g.backlog, err)
	} else {
		ch <- prometheus.MustNewConstMetric(g.backlog, prometheus.GaugeValue, float64(n))
	}
}
