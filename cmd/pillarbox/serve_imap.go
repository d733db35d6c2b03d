package main

// imapListeners returns the IMAP listeners ([imap] listen and listen_tls).
// The IMAP front is not wired yet: it returns none.
func imapListeners(w *wiring) ([]listenerSpec, error) {
	return nil, nil
}
