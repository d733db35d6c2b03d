package main

import (
	"net/http"
	"strconv"

	"pillarbox/mailbox/wellknown"
)

// webHandler is what the [http] and [https] listeners serve besides ACME challenges.
// It is the mail apps' autoconfiguration (Thunderbird, Outlook, Apple)
// and the MTA-STS policy, for the hostname and every local domain of
// w.svc, asked at each request, so that a domain added while serving is
// served at once.
func webHandler(w *wiring) http.Handler {
	return wellknown.New(wellknown.Options{
		Hostname: w.cfg.Hostname,
		Domains:  w.svc,
		Ports:    webPorts(w.cfg),
		// MTASTSMaxAge is left at its default, as mtaSTSPolicy (what
		// `pillarbox dns` prints) leaves it.
		Logger: w.log,
	})
}

// webPorts are the ports the autoconfiguration documents advertise: those
// of the configured listeners, as the SRV records `pillarbox dns` prints
// name them (a listener on port 0 is advertised on its usual port, which
// no document could otherwise name); a listener that is off is not
// offered.
func webPorts(cfg *Config) wellknown.Ports {
	port := func(listen, def string) int {
		if listen == "" {
			return 0
		}
		n, err := strconv.Atoi(listenPort(listen, def))
		if err != nil {
			return 0
		}
		return n
	}
	return wellknown.Ports{
		IMAP:        port(cfg.IMAP.Listen, "143"),
		IMAPS:       port(cfg.IMAP.ListenTLS, "993"),
		Submission:  port(cfg.Submission.Listen, "587"),
		Submissions: port(cfg.Submission.ListenTLS, "465"),
	}
}
