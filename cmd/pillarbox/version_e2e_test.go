package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestVersion runs `--version` and `version`, which the old code called
// an unknown command: both print the binary's version and the Go and
// SQLite it was built with.
func TestVersion(t *testing.T) {
	lib, _, _ := sqlite3.Version()
	for _, arg := range []string{"--version", "version", "-version"} {
		out := mustCLI(t, "", arg)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) < 3 || !strings.HasPrefix(lines[0], "pillarbox ") || len(lines[0]) <= len("pillarbox ") {
			t.Errorf("pillarbox %s:\n%s\nwant a first line \"pillarbox VERSION\"", arg, out)
			continue
		}
		if !strings.Contains(out, "\ngo: "+runtime.Version()+"\n") {
			t.Errorf("pillarbox %s:\n%s\nwant go: %s", arg, out, runtime.Version())
		}
		if !strings.Contains(out, "\nsqlite: "+lib+"\n") {
			t.Errorf("pillarbox %s:\n%s\nwant sqlite: %s", arg, out, lib)
		}
	}
}
