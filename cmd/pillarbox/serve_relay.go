package main

// relayParts returns the submission listeners and the queue's delivery
// worker. Submission and relay are not wired yet: it returns none.
func relayParts(w *wiring) ([]listenerSpec, []worker, error) {
	return nil, nil, nil
}
