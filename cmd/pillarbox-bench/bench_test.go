package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"pillarbox/mailbox"
	pbsmtp "pillarbox/smtp"
)

// BenchmarkPillarboxSMTP runs the smtp mode's load against an in-process
// Pillarbox MX wired as serve wires it, so that a profile shows where a
// delivery's time goes. One op is one delivered 10 KB message; the load
// generator shares the process, as it shares the machine in real runs.
//
//	go test -run '^$' -bench PillarboxSMTP -benchtime 10000x \
//	    -cpuprofile /tmp/cpu.out ./cmd/pillarbox-bench
func BenchmarkPillarboxSMTP(b *testing.B) {
	for _, c := range []int{1, 20} {
		for _, reuse := range []bool{true, false} {
			b.Run(fmt.Sprintf("c=%d/reuse=%t", c, reuse), func(b *testing.B) {
				benchmarkSMTP(b, c, reuse)
			})
		}
	}
}

func benchmarkSMTP(b *testing.B, conns int, reuse bool) {
	pb := startPillarbox(b, 100)
	before := pb.db.Stats()
	runBenchLoad(b, pb.addr, conns, reuse, true)
	after := pb.db.Stats()
	reqs := after.Requests - before.Requests
	b.ReportMetric(float64(after.Commits-before.Commits)/float64(max(reqs, 1)), "commits/msg")
}

// runBenchLoad sends b.N 10 KB messages to addr and reports the figures
// the smtp mode prints.
func runBenchLoad(b *testing.B, addr string, conns int, reuse, rset bool) {
	rcpts, err := recipients("testuser%d@example.test", 100)
	if err != nil {
		b.Fatal(err)
	}
	l := &smtpLoad{
		Addr:    addr,
		N:       b.N,
		Conns:   min(conns, b.N),
		From:    "bench@example.net",
		Rcpts:   rcpts,
		Reuse:   reuse,
		RSET:    rset,
		Timeout: time.Minute,
		Gen:     newMessageGen("bench@example.net", 10240),
	}
	b.ResetTimer()
	res := l.run(context.Background())
	b.StopTimer()
	if res.Failed() > 0 {
		b.Fatalf("%d messages failed: %v", res.Failed(), res.Examples)
	}
	b.ReportMetric(res.PerSecond(), "msg/s")
	b.ReportMetric(ms(res.Latency.P50), "p50-ms")
	b.ReportMetric(ms(res.Latency.P99), "p99-ms")
}

// BenchmarkSMTPProtocolOnly runs the load against Pillarbox's MX with a
// store that keeps nothing: the ceiling that SMTP handling and the load
// generator alone put on this machine, whatever the store does.
func BenchmarkSMTPProtocolOnly(b *testing.B) {
	for _, c := range []int{1, 20} {
		for _, rset := range []bool{true, false} {
			b.Run(fmt.Sprintf("c=%d/rset=%t", c, rset), func(b *testing.B) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				log := slog.New(slog.NewTextHandler(io.Discard, nil))
				mx := pbsmtp.NewMX(discardMailboxes{}, pbsmtp.Options{Hostname: "localhost", Logger: log})
				go mx.Serve(ln)
				defer mx.Close()
				runBenchLoad(b, ln.Addr().String(), c, true, rset)
			})
		}
	}
}

// discardMailboxes accepts every recipient in one account and stores
// nothing.
type discardMailboxes struct{}

func (discardMailboxes) Resolve(_ context.Context, a mailbox.Address) (mailbox.Recipient, error) {
	return mailbox.Recipient{Address: a, Accounts: []int64{1}}, nil
}

func (discardMailboxes) Deliver(context.Context, *mailbox.Delivery) (mailbox.Delivered, error) {
	return mailbox.Delivered{Accounts: 1}, nil
}

func (discardMailboxes) IsLocalDomain(string) bool { return true }

func (discardMailboxes) CheckQuota(context.Context, []int64, int64) error { return nil }

// BenchmarkAnalyze10K is the parse-once analysis of one generated 10 KB
// message, which every delivery runs before it queues for the writer.
func BenchmarkAnalyze10K(b *testing.B) {
	g := newMessageGen("bench@example.net", 10240)
	var msgs [][]byte
	for i := range int64(64) {
		msgs = append(msgs, g.appendMessage(nil, i, "testuser1@example.test", time.Now()))
	}
	b.SetBytes(10240)
	i := 0
	for b.Loop() {
		mailbox.Analyze(msgs[i%len(msgs)], mailbox.Limits{})
		i++
	}
}

// BenchmarkDeliverDirect measures mailbox.Service.Deliver without SMTP:
// the store's part of a message's cost, by concurrency.
func BenchmarkDeliverDirect(b *testing.B) {
	for _, conc := range []int{1, 20} {
		b.Run(fmt.Sprintf("c=%d", conc), func(b *testing.B) {
			pb := startPillarbox(b, 100)
			svc, err := mailbox.New(pb.db, mailbox.Options{Domains: []string{"example.test"}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var rcpts []mailbox.Recipient
			for i := 1; i <= 100; i++ {
				a, _ := mailbox.ParseAddress(fmt.Sprintf("testuser%d@example.test", i))
				r, err := svc.Resolve(ctx, a)
				if err != nil {
					b.Fatal(err)
				}
				rcpts = append(rcpts, r)
			}
			g := newMessageGen("bench@example.net", 10240)
			before := pb.db.Stats()
			var mu sync.Mutex
			next := 0
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range conc {
				wg.Go(func() {
					var buf []byte
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= b.N {
							return
						}
						r := rcpts[i%len(rcpts)]
						buf = g.appendMessage(buf[:0], int64(i), r.Address.String(), time.Now())
						if _, err := svc.Deliver(ctx, &mailbox.Delivery{From: "bench@example.net", Recipients: []mailbox.Recipient{r}, Data: buf}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			after := pb.db.Stats()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
			b.ReportMetric(float64(after.Commits-before.Commits)/float64(max(after.Requests-before.Requests, 1)), "commits/msg")
		})
	}
}
