package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/sqlite"
)

// cmdFootprint is the footprint mode: it delivers N messages to one
// account of a new data directory through the mailbox API (what the MX
// does after DATA), lets the indexer finish, closes the store (which
// checkpoints the WAL) and prints the octets of mail delivered against the
// octets of the data directory. Every tenth message, when --corpus names
// a directory of .txt/.eml files, is one of those (MIME structure,
// encodings, charsets), the others come from the same generator as the
// smtp mode. It then times searches through mailbox.Reader.Search, as
// IMAP's UID SEARCH runs them.
func cmdFootprint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("footprint", flag.ContinueOnError)
	dataDir := fl.String("data", "", "new data `directory`; default a temporary one, removed at the end")
	n := fl.Int("n", 10000, "number of messages")
	size := fl.Int("size", 10240, "size of each generated message in `bytes`, headers included")
	corpus := fl.String("corpus", "", "`directory` of real messages (.txt, .eml) to mix in, one in ten")
	conc := fl.Int("c", 8, "concurrent deliveries")
	runs := fl.Int("runs", 5, "times each search runs (the median is printed)")
	asJSON := fl.Bool("json", false, "print the result as one JSON line")
	cpuProfile := fl.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	if err := parseFlags(fl, args, stdout); err != nil {
		return err
	}
	if *n < 1 || *conc < 1 || *runs < 1 {
		return errors.New("footprint: -n, -c and --runs must be at least 1")
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	dir, cleanup, err := backlogDir(*dataDir)
	if err != nil {
		return err
	}
	defer cleanup()
	var real [][]byte
	if *corpus != "" {
		if real, err = readCorpus(*corpus); err != nil {
			return err
		}
	}
	const user = "footprint@bench.example"
	path := filepath.Join(dir, "pillarbox.db")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() (store.Store, *mailbox.Service, error) {
		db, err := sqlite.Open(path, sqlite.Options{Logger: quiet, SearchText: mailbox.TextFunc(mailbox.Limits{})})
		if err != nil {
			return nil, nil, err
		}
		svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"bench.example"}, BcryptCost: 4, Logger: quiet})
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return db, svc, nil
	}
	db, svc, err := open()
	if err != nil {
		return fmt.Errorf("footprint: %w", err)
	}
	if err := svc.AddUser(ctx, user, "bench"); err != nil {
		db.Close()
		return fmt.Errorf("footprint: %w", err)
	}
	acct, err := svc.Authenticate(ctx, user, "bench")
	if err != nil {
		db.Close()
		return fmt.Errorf("footprint: %w", err)
	}
	rcpt, _ := mailbox.ParseAddress(user)
	gen := newMessageGen("Sender Name <sender@bench-sender.example>", *size)
	gen.from = "sender@bench-sender.example"
	start := time.Now()
	var next, mail atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				var data []byte
				if len(real) > 0 && i%10 == 9 {
					data = real[int(i/10)%len(real)]
				} else {
					data = gen.appendMessage(nil, i, user, time.Now())
				}
				mail.Add(int64(len(data)))
				_, err := svc.Deliver(ctx, &mailbox.Delivery{From: gen.from, Data: data,
					Recipients: []mailbox.Recipient{{Address: rcpt, Accounts: []int64{acct.ID}}}})
				if err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, fmt.Errorf("footprint: delivering message %d: %w", i+1, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil {
		firstErr = db.FlushIndex(ctx)
	}
	fill := time.Since(start)
	if err := db.Close(); firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return firstErr
	}
	res := footprintResult{Messages: *n, MailBytes: mail.Load(), Fill: fill}
	if res.DataBytes, err = dirBytes(dir); err != nil {
		return fmt.Errorf("footprint: %w", err)
	}
	res.Ratio = float64(res.DataBytes) / float64(res.MailBytes)

	db, svc, err = open()
	if err != nil {
		return fmt.Errorf("footprint: %w", err)
	}
	defer db.Close()
	folder, err := svc.Folder(ctx, acct.ID, "INBOX")
	if err != nil {
		return fmt.Errorf("footprint: %w", err)
	}
	searches := []struct {
		name string
		c    mailbox.Criteria
	}{
		{"FROM sender", mailbox.Criteria{Header: []mailbox.HeaderMatch{{Field: "From", Value: "sender"}}}},
		{"FROM nobody", mailbox.Criteria{Header: []mailbox.HeaderMatch{{Field: "From", Value: "nobody"}}}},
		{"TO footprint", mailbox.Criteria{Header: []mailbox.HeaderMatch{{Field: "To", Value: "footprint"}}}},
		{"SUBJECT message", mailbox.Criteria{Header: []mailbox.HeaderMatch{{Field: "Subject", Value: "message 77"}}}},
		{"BODY ref-", mailbox.Criteria{Body: []string{"ref-00"}}},
		{"BODY meeting invoice", mailbox.Criteria{Body: []string{"meeting invoice"}}},
	}
	for _, s := range searches {
		var times []time.Duration
		hits := 0
		for range *runs {
			hits = 0
			t0 := time.Now()
			err := svc.ReadMailbox(ctx, folder.ID, nil, func(r *mailbox.Reader) error {
				return r.Search(&s.c, false, func(uid, seq uint32) error { hits++; return nil })
			})
			if err != nil {
				return fmt.Errorf("footprint: search %s: %w", s.name, err)
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		res.Searches = append(res.Searches, footprintSearch{Name: s.name, Hits: hits, Median: times[len(times)/2]})
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "messages %d, mail %d bytes, data directory %d bytes (%.2fx), filled in %v\n",
		res.Messages, res.MailBytes, res.DataBytes, res.Ratio, res.Fill.Round(time.Millisecond))
	for _, s := range res.Searches {
		fmt.Fprintf(stdout, "UID SEARCH %-22s %7d hits  median %v\n", s.Name, s.Hits, s.Median.Round(10*time.Microsecond))
	}
	return nil
}

type footprintResult struct {
	Messages             int
	MailBytes, DataBytes int64
	Ratio                float64
	Fill                 time.Duration
	Searches             []footprintSearch
}

type footprintSearch struct {
	Name   string
	Hits   int
	Median time.Duration
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// readCorpus reads the .txt and .eml files of dir, with CRLF line ends as
// SMTP delivers them.
func readCorpus(dir string) ([][]byte, error) {
	var out [][]byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, ".eml")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
		out = append(out, []byte(s))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("footprint: corpus: %w", err)
	}
	return out, nil
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	return total, err
}
