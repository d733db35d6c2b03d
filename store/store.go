package store

import (
	"errors"
)

// Sentinel errors. Callers check them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrClosed   = errors.New("store: closed")
	// ErrFull means the disk (or the configured page limit) is full.
	// It is temporary: writes succeed again once space returns.
	ErrFull = errors.New("store: storage full")
)

// Stats counts the writer's work since it was opened.
type Stats struct {
	Requests uint64 // write requests answered
	Commits  uint64 // transactions committed
}
