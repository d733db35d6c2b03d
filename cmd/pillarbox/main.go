// Command pillarbox is a complete mail host for a small domain in one
// binary: an SMTP MX that stores mail durably in SQLite mailboxes, a
// submission server with a retrying relay queue, an IMAP front, and the
// commands that manage users, aliases and the queue.
//
//	pillarbox quickstart HOSTNAME DOMAIN
//	pillarbox serve [--config FILE]
//	pillarbox version
//	pillarbox user add|passwd|del|list ...
//	pillarbox alias add|del|list ...
//	pillarbox domain add|del|list ...
//	pillarbox dns [check] NAME
//	pillarbox dkim rotate|check|cancel ...
//	pillarbox queue list|show|retry|hold|release|delete ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pillarbox: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage:
  pillarbox version | --version
  pillarbox quickstart HOSTNAME DOMAIN [--config FILE] [--data-dir DIR] [--acme-email ADDR] [--no-acme] [--force]
  pillarbox serve [--config FILE]
  pillarbox user add ADDRESS [--password-stdin] [--config FILE]
  pillarbox user passwd ADDRESS [--password-stdin] [--config FILE]
  pillarbox user del ADDRESS [--force] [--config FILE]
  pillarbox user list [--config FILE]
  pillarbox user quota ADDRESS [SIZE] [--config FILE]
      (SIZE in bytes or with K, M, G, T: 500M, 2G; 0 or none: no quota)
  pillarbox alias add ALIAS TARGET[,TARGET...] [--config FILE]
  pillarbox alias del ALIAS [--config FILE]
  pillarbox alias list [--config FILE]
  pillarbox domain add NAME [--config FILE]
  pillarbox domain del NAME [--force] [--config FILE]
  pillarbox domain list [--config FILE]
  pillarbox dns NAME [--config FILE]
  pillarbox dns check NAME [--config FILE]
  pillarbox dkim rotate NAME [--config FILE]
  pillarbox dkim check [--config FILE]
  pillarbox dkim cancel NAME [--config FILE]
  pillarbox queue list [--config FILE]
  pillarbox queue show ID [--config FILE]
  pillarbox queue retry ID | --all [--config FILE]
  pillarbox queue hold ID [--config FILE]
  pillarbox queue release ID [--config FILE]
  pillarbox queue delete ID [--config FILE]
  pillarbox trace qID | mID | ID | MESSAGE-ID | ADDRESS [--limit N] [--config FILE]
      (q12: queue item 12, m34: stored message 34, a bare number: both)
  pillarbox migrate --to postgres --dsn DSN | --dsn-file FILE [--config FILE]
      (copy the SQLite data directory into an empty PostgreSQL database)
`

// env is what a command may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	err := dispatch(ctx, e, args)
	// -h or --help anywhere among a command's flags asks for its usage:
	// that is an answer, on stdout, not a failure.
	var h *helpError
	if errors.As(err, &h) {
		printHelp(stdout, args[0], h)
		return nil
	}
	return err
}

func dispatch(ctx context.Context, e *env, args []string) error {
	stdout, stderr := e.stdout, e.stderr
	switch args[0] {
	case "quickstart":
		return cmdQuickstart(ctx, e, args[1:])
	case "serve":
		return cmdServe(ctx, e, args[1:])
	case "user":
		return cmdUser(ctx, e, args[1:])
	case "alias":
		return cmdAlias(ctx, e, args[1:])
	case "queue":
		return cmdQueue(ctx, e, args[1:])
	case "domain":
		return cmdDomain(ctx, e, args[1:])
	case "dns":
		return cmdDNS(ctx, e, args[1:])
	case "dkim":
		return cmdDKIM(ctx, e, args[1:])
	case "trace":
		return cmdTrace(ctx, e, args[1:])
	case "migrate":
		return cmdMigrate(ctx, e, args[1:])
	case "version", "-version", "--version":
		printVersion(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// commandFlags returns a flag set with the --config flag every command
// takes.
func commandFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := fs.String("config", "", "configuration file (TOML)")
	return fs, config
}

// splitSubcommand parses the flags among args with fs and returns the
// subcommand, which must be one of names, and its positional arguments.
// help lists the subcommands in error messages.
func splitSubcommand(fs *flag.FlagSet, args []string, help string, names ...string) (string, []string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if len(pos) == 0 {
		return "", nil, fmt.Errorf("%s: missing subcommand (%s)", fs.Name(), help)
	}
	if !slices.Contains(names, pos[0]) {
		return "", nil, fmt.Errorf("%s: unknown subcommand %q (%s)", fs.Name(), pos[0], help)
	}
	return pos[0], pos[1:], nil
}

// parseCommand parses args and checks the number of positional arguments.
func parseCommand(fs *flag.FlagSet, args []string, want int, usageLine string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (usage: %s)", fs.Name(), err, usageLine)
	}
	if err := argCount(fs.Name(), pos, want, usageLine); err != nil {
		return nil, err
	}
	return pos, nil
}

// argCount checks the number of positional arguments of name (a
// command, or "command subcommand").
func argCount(name string, pos []string, want int, usageLine string) error {
	if len(pos) != want {
		return fmt.Errorf("%s: want %d argument(s), got %d (usage: %s)", name, want, len(pos), usageLine)
	}
	return nil
}

// subUsage is a subcommand's number of positional arguments and its
// usage line.
type subUsage struct {
	args int
	line string
}

// subArgCount checks sub's positional arguments against its entry in
// usages.
func subArgCount(command, sub string, pos []string, usages map[string]subUsage) error {
	u := usages[sub]
	return argCount(command+" "+sub, pos, u.args, u.line)
}
