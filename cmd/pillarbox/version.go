package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/mattn/go-sqlite3"
)

// printVersion writes the version of the binary, and the Go and SQLite
// it was built with, which decide much of its behaviour on disk.
func printVersion(w io.Writer) {
	version, revision := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				if s.Value == "true" && revision != "" {
					revision += " (modified)"
				}
			}
		}
	}
	fmt.Fprintf(w, "pillarbox %s\n", version)
	if revision != "" {
		fmt.Fprintf(w, "revision: %s\n", revision)
	}
	lib, _, _ := sqlite3.Version()
	fmt.Fprintf(w, "go: %s\nsqlite: %s\n", runtime.Version(), lib)
}
