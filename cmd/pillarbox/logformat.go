package main

import (
	"io"
	"log/slog"
)

// newLogger returns serve's logger writing to w in format, "json" or
// (anything else, as validated config allows only "text") slog's text.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
