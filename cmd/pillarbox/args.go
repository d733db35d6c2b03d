package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// parseArgs parses flags anywhere among args with fs, returning the
// positional arguments in order. "--" ends flag parsing.
//
// The flag package stops at the first positional argument, so
// "user add alice@example.org --password-stdin" would leave the flag
// unparsed. parseArgs first sorts flags from positionals, using fs to know
// which flags take the next argument as their value (flag.Value documents
// the IsBoolFlag rule), then hands all flags to fs.Parse at once. Splitting
// by hand rather than calling fs.Parse once per positional keeps "--" exact:
// after a stop, fs.Parse cannot tell us whether a "--" it consumed ended the
// flags or was the value of a flag ("--config --").
//
// fs should use flag.ContinueOnError with its output discarded, so that
// errors come back as values.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-' || a[1] >= '0' && a[1] <= '9':
			// No flag starts with a digit: "-1" is a (bad) size or id,
			// to be refused as one.
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			if takesValue(fs, a) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpError{fs: fs, pos: positional}
		}
		return nil, err
	}
	return positional, nil
}

// helpError is what parseArgs returns for -h or --help: the command's
// flags and positional arguments, so that run can print the usage of the
// subcommand asked about. It wraps flag.ErrHelp.
type helpError struct {
	fs  *flag.FlagSet
	pos []string
}

func (h *helpError) Error() string { return flag.ErrHelp.Error() }
func (h *helpError) Unwrap() error { return flag.ErrHelp }

// printHelp writes the usage lines of command (narrowed to its
// subcommand when h names one) and its flags to w.
func printHelp(w io.Writer, command string, h *helpError) {
	var lines []string
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "  pillarbox "+command+" ") || l == "  pillarbox "+command {
			lines = append(lines, l)
		}
	}
	if len(h.pos) > 0 {
		var sub []string
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 2 && slices.Contains(strings.Split(f[2], "|"), h.pos[0]) {
				sub = append(sub, l)
			}
		}
		if len(sub) > 0 {
			lines = sub
		}
	}
	fmt.Fprintln(w, "usage:")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "flags:")
	h.fs.SetOutput(w)
	h.fs.PrintDefaults()
	h.fs.SetOutput(io.Discard)
}

// takesValue reports whether arg is "-name" or "--name" for a flag of fs
// that consumes the next argument as its value.
func takesValue(fs *flag.FlagSet, arg string) bool {
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false // fs.Parse reports it
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}
