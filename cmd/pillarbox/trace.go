package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"pillarbox/mailbox"
)

// traceUsage is the trace command's usage line.
const traceUsage = "pillarbox trace qID | mID | ID | MESSAGE-ID | ADDRESS [--limit N] [--config FILE]"

// traceLookup is one way to read the argument of trace.
type traceLookup struct {
	label string // what the argument was taken for, in the output
	by    string // a mailbox.HistoryBy key
	value any
}

// traceLookups reads the argument: "q12" is queue item 12 and "m34"
// stored message 34 (as the logs name them: queue_id=12, stored=34); a
// bare number is tried as both. "<x@y>" is a Message-ID; "x@y" is tried
// as an address and as a Message-ID.
func traceLookups(arg string) ([]traceLookup, error) {
	num := func(s string) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n > 0
	}
	switch {
	case arg == "":
		return nil, fmt.Errorf("trace: empty argument (usage: %s)", traceUsage)
	case strings.HasPrefix(arg, "<") && strings.HasSuffix(arg, ">"):
		return []traceLookup{{"Message-ID " + arg, mailbox.HistoryByMessageID, arg[1 : len(arg)-1]}}, nil
	case strings.Contains(arg, "@"):
		var out []traceLookup
		if a, err := mailbox.ParseAddress(arg); err == nil {
			out = append(out, traceLookup{"address " + a.String(), mailbox.HistoryByAddress, a.String()})
		}
		return append(out, traceLookup{"Message-ID <" + arg + ">", mailbox.HistoryByMessageID, arg}), nil
	}
	if n, ok := num(arg); ok {
		return []traceLookup{
			{"queue item q" + arg, mailbox.HistoryByQueue, n},
			{"stored message m" + arg, mailbox.HistoryByStored, n},
		}, nil
	}
	if n, ok := num(arg[1:]); ok && (arg[0] == 'q' || arg[0] == 'Q') {
		return []traceLookup{{"queue item q" + arg[1:], mailbox.HistoryByQueue, n}}, nil
	}
	if n, ok := num(arg[1:]); ok && (arg[0] == 'm' || arg[0] == 'M') {
		return []traceLookup{{"stored message m" + arg[1:], mailbox.HistoryByStored, n}}, nil
	}
	return nil, fmt.Errorf("trace: %q is neither qID, mID, a number, a Message-ID nor an address (usage: %s)", arg, traceUsage)
}

// cmdTrace prints the story of the messages an id, Message-ID or
// address names, from the delivery history in the database, latest
// event first. It only reads, so it may run beside serve.
func cmdTrace(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("trace")
	limit := fs.Int("limit", 200, "show at most this many events per lookup")
	pos, err := parseCommand(fs, args, 1, traceUsage)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return fmt.Errorf("trace: --limit %d, want 1 or more", *limit)
	}
	lookups, err := traceLookups(pos[0])
	if err != nil {
		return err
	}
	_, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	found := false
	for _, l := range lookups {
		evs, err := svc.History(ctx, l.by, l.value, *limit)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		if len(evs) == 0 {
			continue
		}
		if found {
			fmt.Fprintln(e.stdout)
		}
		found = true
		fmt.Fprintf(e.stdout, "# %s: %d event(s), latest first\n", l.label, len(evs))
		printHistory(e, evs)
	}
	if !found {
		return fmt.Errorf("trace: no history for %q (kept for history_days)", pos[0])
	}
	return nil
}

func printHistory(e *env, evs []mailbox.HistoryEvent) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tEVENT\tSTORED\tQUEUE\tMESSAGE-ID\tADDRESS\tDETAIL")
	for _, ev := range evs {
		stored, queue := "-", "-"
		if ev.BlobID != 0 {
			stored = "m" + strconv.FormatInt(ev.BlobID, 10)
		}
		if ev.QueueID != 0 {
			queue = "q" + strconv.FormatInt(ev.QueueID, 10)
		}
		msgID := "-"
		if ev.MessageID != "" {
			msgID = "<" + clean(ev.MessageID) + ">"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.At.UTC().Format(time.RFC3339), ev.Event, stored, queue,
			msgID, orDash(clean(ev.Address)), clean(ev.Detail))
	}
	w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean keeps text from the network (replies, HELO names, Message-IDs,
// addresses, headers) from breaking the table or the terminal: every C0
// and C1 control, escape included, becomes a space.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r >= 0x7f && r <= 0x9f {
			return ' '
		}
		return r
	}, s)
}
