package main

import (
	"context"
	"time"

	"pillarbox/mailbox"
	"pillarbox/smtp"
	"pillarbox/smtp/relay"
)

// relayParts returns the submission listeners ([submission] listen with
// STARTTLS, listen_tls with implicit TLS) and the queue's delivery
// worker, which submission kicks whenever it queues mail, and which the
// store's feed kicks when another node does.
func relayParts(w *wiring) ([]listenerSpec, []worker, error) {
	cfg := w.cfg
	retry := make([]time.Duration, len(cfg.Relay.Retry))
	for i, d := range cfg.Relay.Retry {
		retry[i] = d.Duration
	}
	sec, refresh, err := relaySecurity(w)
	if err != nil {
		return nil, nil, err
	}
	runner := relay.New(w.svc, relay.Options{
		Hostname:      cfg.Hostname,
		PrimaryDomain: cfg.Domains[0],
		Smarthost:     cfg.Relay.Smarthost,
		Schedule: relay.Schedule{
			Retry:        retry,
			MaxAge:       cfg.Relay.MaxAge.Duration,
			DelayWarning: cfg.Relay.DelayWarning.Duration,
		},
		Resolver:       newResolver(cfg.DNS.Resolver),
		Security:       sec,
		Logger:         w.log,
		MaxConnections: cfg.Relay.MaxConnections,
		PerDomain:      cfg.Relay.PerDomain,
		OnAttempt:      w.metrics.relayAttempt,
		OnBounce:       w.metrics.relayBounce,
	})
	w.notices = runner
	sub := kickingSubmitter{Service: w.svc, kick: runner.Kick}
	opts := smtp.SubmissionOptions{
		Options:  w.smtpOptions(runner, w.metrics.smtpSubmission()),
		Throttle: w.throttle,
	}
	var specs []listenerSpec
	if cfg.Submission.Listen != "" {
		specs = append(specs, listenerSpec{name: "submission", addr: cfg.Submission.Listen, srv: smtp.NewSubmission(sub, opts)})
	}
	if cfg.Submission.ListenTLS != "" {
		specs = append(specs, listenerSpec{name: "submissions", addr: cfg.Submission.ListenTLS, implicitTLS: true,
			srv: smtp.NewSubmission(sub, opts)})
	}
	// With a store other nodes share, the commits of every node reach
	// this one's IMAP sessions, and queued mail wakes its relay.
	follow := func(ctx context.Context) error { return w.svc.Follow(ctx, runner.Kick) }
	return specs, []worker{runner.Run, refresh, follow}, nil
}

// kickingSubmitter wakes the relay after every submission that queued
// mail, so that it is tried at once rather than at the next poll.
type kickingSubmitter struct {
	*mailbox.Service
	kick func()
}

func (k kickingSubmitter) Submit(ctx context.Context, s *mailbox.Submission) (mailbox.Submitted, error) {
	res, err := k.Service.Submit(ctx, s)
	if err == nil && len(res.Queued) > 0 {
		k.kick()
	}
	return res, err
}
