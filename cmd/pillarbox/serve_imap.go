package main

import "pillarbox/imap"

// imapListeners returns the IMAP listeners: [imap] listen with STARTTLS
// and [imap] listen_tls with implicit TLS (RFC 8314). Both share one
// server, so that sessions on either see each other's changes.
func imapListeners(w *wiring) ([]listenerSpec, error) {
	if w.cfg.IMAP.Listen == "" && w.cfg.IMAP.ListenTLS == "" {
		return nil, nil
	}
	srv := imap.New(w.svc, imap.Options{
		TLS:         w.tls,
		AppendLimit: w.cfg.SMTP.MaxMessageBytes,
		Throttle:    w.throttle, // shared with submission: one per process
		Logger:      w.log,
		OnLogin:     w.metrics.loginHook("imap"),
	})
	return []listenerSpec{
		{name: "imap", addr: w.cfg.IMAP.Listen, srv: srv},
		{name: "imaps", addr: w.cfg.IMAP.ListenTLS, implicitTLS: true, srv: srv},
	}, nil
}
