package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"pillarbox/mailbox"
)

// queueUsage lists the queue subcommands.
const queueUsage = "list, show ID, retry ID|--all, hold ID, release ID, delete ID"

// cmdQueue inspects and steers the outbound queue. It may run beside
// serve: the changes bump a counter that the running relay reads once a
// second.
func cmdQueue(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := commandFlags("queue")
	all := fs.Bool("all", false, "retry every queued item")
	sub, pos, err := splitSubcommand(fs, args, queueUsage, "list", "show", "retry", "hold", "release", "delete")
	if err != nil {
		return err
	}
	if *all && sub != "retry" {
		return fmt.Errorf("queue %s: --all only applies to retry", sub)
	}
	var id int64
	switch {
	case sub == "list":
		if len(pos) != 0 {
			return fmt.Errorf("queue list: want no arguments, got %d (usage: pillarbox queue list)", len(pos))
		}
	case sub == "retry" && *all:
		if len(pos) != 0 {
			return errors.New("queue retry: give an ID or --all, not both")
		}
	default:
		line := "pillarbox queue " + sub + " ID"
		if sub == "retry" {
			line += " | --all"
		}
		if len(pos) != 1 {
			return fmt.Errorf("queue %s: want 1 argument, got %d (usage: %s)", sub, len(pos), line)
		}
		if id, err = strconv.ParseInt(pos[0], 10, 64); err != nil || id <= 0 {
			return fmt.Errorf("queue %s: invalid queue id %q", sub, pos[0])
		}
	}

	_, db, svc, err := openService(*cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "list":
		items, err := svc.QueueList(ctx)
		if err != nil {
			return fmt.Errorf("queue list: %w", err)
		}
		printQueue(e.stdout, items)
		return nil
	case "show":
		d, err := svc.QueueShow(ctx, id)
		if err != nil {
			return fmt.Errorf("queue show: %w", err)
		}
		printQueueDetail(e.stdout, d)
		return nil
	case "retry":
		n, err := svc.QueueRetry(ctx, id)
		if err != nil {
			return fmt.Errorf("queue retry: %w", err)
		}
		fmt.Fprintf(e.stdout, "%d item(s) due now\n", n)
		return nil
	case "hold":
		err = svc.QueueHold(ctx, id)
	case "release":
		err = svc.QueueRelease(ctx, id)
	case "delete":
		err = svc.QueueDelete(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("queue %s: %w", sub, err)
	}
	return nil
}

const queueTimeLayout = "2006-01-02 15:04:05 MST"

func queueSender(s string) string { return "<" + clean(s) + ">" }

func printQueue(w io.Writer, items []mailbox.QueueItem) {
	if len(items) == 0 {
		fmt.Fprintln(w, "the queue is empty")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSENDER\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST REPLY")
	for _, it := range items {
		reply := it.LastReply
		if len(reply) > 60 {
			reply = reply[:57] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", it.ID, queueSender(it.Sender), clean(it.Recipient), it.State,
			it.Attempts, it.NextAttempt.Local().Format(queueTimeLayout), queueOneLine(reply))
	}
	tw.Flush()
}

// queueParams shows an item's DSN and REQUIRETLS parameters as its MAIL
// and RCPT commands gave them, or "none".
func queueParams(p mailbox.QueueParams) string {
	var out []string
	for _, kv := range [][2]string{{"RET", p.Ret}, {"ENVID", p.EnvID}, {"NOTIFY", p.Notify}, {"ORCPT", p.ORcpt}} {
		if kv[1] != "" {
			out = append(out, kv[0]+"="+queueOneLine(kv[1]))
		}
	}
	if p.RequireTLS {
		out = append(out, "REQUIRETLS")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

func printQueueDetail(w io.Writer, d mailbox.QueueDetail) {
	it := d.Item
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, kv := range [][2]string{
		{"id", strconv.FormatInt(it.ID, 10)},
		{"state", it.State},
		{"sender", queueSender(it.Sender)},
		{"recipient", clean(it.Recipient)},
		{"message-id", "<" + clean(it.MessageID) + ">"},
		{"size", strconv.FormatInt(it.Size, 10)},
		{"queued", it.Created.Local().Format(queueTimeLayout)},
		{"attempts", strconv.Itoa(it.Attempts)},
		{"next attempt", it.NextAttempt.Local().Format(queueTimeLayout)},
		{"last reply", queueOneLine(it.LastReply)},
		{"delay warned", strconv.FormatBool(it.Warned)},
		{"parameters", queueParams(it.Params)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	fmt.Fprintln(w, "attempts:")
	if len(d.Attempts) == 0 {
		fmt.Fprintln(w, "  none yet")
	}
	for _, a := range d.Attempts {
		remote := a.Remote
		if remote == "" {
			remote = "-"
		}
		remote = clean(remote)
		fmt.Fprintf(w, "  %s  %s  %s\n", a.At.Local().Format(queueTimeLayout), remote, queueOneLine(a.Reply))
		if a.TLS != "" {
			fmt.Fprintf(w, "    tls: %s\n", queueOneLine(a.TLS))
		}
	}
	fmt.Fprintln(w, "header:")
	for _, l := range strings.Split(string(bytes.TrimRight(d.Header, "\r\n")), "\n") {
		fmt.Fprintf(w, "  %s\n", clean(strings.TrimSuffix(l, "\r")))
	}
}

// queueOneLine is s on one line, without the controls that text from
// the network may carry to the terminal.
func queueOneLine(s string) string { return strings.Join(strings.Fields(clean(s)), " ") }
