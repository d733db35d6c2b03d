// Command pillarbox-bench puts load on a mail server running on this
// machine and reports throughput and latency, confirming delivery through
// the mailboxes. It talks to loopback addresses only.
//
//	pillarbox-bench smtp [flags]    send N messages over C SMTP connections
//	pillarbox-bench relay [flags]   submit N messages for remote recipients and
//	                                count them at a loopback sink the relay delivers to
//	pillarbox-bench backlog [flags] queue N messages for D domains in a new data directory,
//	                                run the relay on it and time until the queue is empty
//	pillarbox-bench imap [flags]    fill a mailbox, time SELECT, FETCH and SEARCH on it,
//	                                and run a mixed workload of short IMAP sessions
//	pillarbox-bench guess [flags]   guess one account's password over C connections and
//	                                count the guesses checked and refused per second
//	pillarbox-bench footprint [flags] deliver N messages into a new data directory, print
//	                                the mail's size against the directory's, time searches
//
// Each mode lives in its own file and is one case of run's switch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pillarbox-bench: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage:
  pillarbox-bench smtp [--addr HOST:PORT] [-n N] [-c C] [--size BYTES]
      [--from ADDR] [--to TEMPLATE] [--users U] [--reuse=BOOL] [--rset=BOOL]
      [--verify-imap HOST:PORT --verify-pass PASS | --verify-db DIR]
      [--verify-timeout D] [--json]
  pillarbox-bench relay --user U --pass P [--addr HOST:PORT] [--sink HOST:PORT]
      [-n N] [-c C] [--size BYTES] [--to TEMPLATE] [--users U] [--wait D] [--json]
  pillarbox-bench backlog [--data DIR] [--sink HOST:PORT] [-n N] [--domains D] [--size BYTES]
      [-c C] [--max-connections M] [--per-domain P] [--dkim=BOOL] [--wait D] [--json]
  pillarbox-bench imap --user U --pass P [--addr HOST:PORT] [--mailbox NAME] [--fill N]
      [--size BYTES] [--clients C] [--duration D] [--idle K] [--idle-hold D] [--json]
  pillarbox-bench guess --user U [--addr HOST:PORT] [--proto imap|submission] [-c C]
      [--duration D] [--sources S] [--reuse=BOOL] [--json]
  pillarbox-bench footprint [--data DIR] [-n N] [--size BYTES] [--corpus DIR] [-c C]
      [--runs R] [--json]

Run "pillarbox-bench MODE -h" for a mode's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing mode")
	}
	var err error
	switch args[0] {
	case "smtp":
		err = cmdSMTP(ctx, args[1:], stdout, stderr)
	case "relay":
		err = cmdRelay(ctx, args[1:], stdout, stderr)
	case "backlog":
		err = cmdBacklog(ctx, args[1:], stdout, stderr)
	case "imap":
		err = cmdIMAP(ctx, args[1:], stdout, stderr)
	case "guess":
		err = cmdGuess(ctx, args[1:], stdout, stderr)
	case "footprint":
		err = cmdFootprint(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprint(stderr, usage)
		err = fmt.Errorf("unknown mode %q", args[0])
	}
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// parseFlags parses a mode's flags. -h prints the flags to stdout and
// returns errHelpShown; other errors come back as one line.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "usage of pillarbox-bench %s:\n", fs.Name())
		fs.PrintDefaults()
		return errHelpShown
	}
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// errHelpShown ends a run that only printed help; it is not a failure.
var errHelpShown = errors.New("help shown")

// checkLoopback refuses any address whose host is not a loopback address
// or "localhost": this tool generates load and must never aim it at
// another machine.
func checkLoopback(flagName, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s %q: %v", flagName, addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("--%s %s: only loopback addresses are allowed (127.0.0.0/8, ::1, localhost)", flagName, addr)
}

// loopbackDialer dials with a timeout and refuses, after name resolution,
// any peer that is not on loopback (a "localhost" that /etc/hosts maps
// elsewhere included).
func loopbackDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
			}
			return nil
		},
	}
}
