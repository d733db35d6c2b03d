package netlimit

import "sync"

// Total caps the connections open at once over several Listeners, the
// whole process's: give the same Total to each one's Options. A nil
// *Total caps nothing. It is safe for concurrent use.
type Total struct {
	max int

	mu   sync.Mutex
	open int
}

// NewTotal returns a Total of max connections, or nil (no cap) when max
// is not positive.
func NewTotal(max int) *Total {
	if max <= 0 {
		return nil
	}
	return &Total{max: max}
}

// acquire takes a slot, and reports whether there was one.
func (t *Total) acquire() bool {
	if t == nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open >= t.max {
		return false
	}
	t.open++
	return true
}

// release gives a slot back.
func (t *Total) release() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open--
}

// Open returns how many connections hold a slot.
func (t *Total) Open() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}
