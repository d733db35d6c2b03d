package imap

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pillarbox/mailbox"
	"pillarbox/store/sqlite"
	"pillarbox/store/storetest"
)

// The benchmarks run on one mailbox of -imap.bench.n messages, built once
// per process (and kept in -imap.bench.dir between runs when set):
//
//	go test ./imap -run '^$' -bench . -benchtime 10x
//
// With -imap.bench.addr the same operations run against another server
// (Dovecot, for comparison), whose INBOX for -imap.bench.user must hold
// -imap.bench.n messages: see -imap.bench.maildir.
var (
	benchN       = flag.Int("imap.bench.n", 100_000, "messages in the benchmark mailbox")
	benchDir     = flag.String("imap.bench.dir", "", "directory that keeps the benchmark database between runs")
	benchAddr    = flag.String("imap.bench.addr", "", "benchmark this IMAP server (host:port) instead of Pillarbox")
	benchUser    = flag.String("imap.bench.user", "testuser100@example.test", "login for -imap.bench.addr")
	benchPass    = flag.String("imap.bench.pass", "pass", "password for -imap.bench.addr")
	benchMaildir = flag.String("imap.bench.maildir", "", "write the benchmark messages into this Maildir (for -imap.bench.addr) and stop")
	benchBox     = flag.String("imap.bench.mailbox", "INBOX", "the benchmark mailbox on -imap.bench.addr")
)

var (
	benchOnce sync.Once
	benchPath string
	benchErr  error
)

// benchWords is the vocabulary of benchmark bodies: realistic text with
// many distinct words, so that the full-text index is not trivial.
var benchWords = strings.Fields(`the of and to in is that for it as with was on be by at this from or have an
	are not which but were all one their has they been more when will would there can what about if so no
	out up into them only other new some could time these two may then first any like over such our
	project meeting budget quarterly invoice schedule delivery customer contract review draft report
	server database network release version update security password account holiday travel lunch
	coffee weekend family garden concert ticket flight hotel museum library football tennis recipe`)

func benchMessage(r *rand.Rand, i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example%d.net>\r\nTo: alice@example.org\r\n", i%500, i%500, i%37)
	fmt.Fprintf(&b, "Subject: %s %s %d\r\nDate: Mon, 2 Jan 2023 15:04:05 +0000\r\nMessage-ID: <bench%d@example.net>\r\n\r\n",
		benchWords[r.IntN(len(benchWords))], benchWords[r.IntN(len(benchWords))], i, i)
	for line := 0; line < 8; line++ {
		for w := 0; w < 10; w++ {
			b.WriteString(benchWords[r.IntN(len(benchWords))])
			b.WriteByte(' ')
		}
		b.WriteString("\r\n")
	}
	if i%10_000 == 7 {
		b.WriteString("The zanzibar shipment is late.\r\n")
	}
	return []byte(b.String())
}

// benchDB returns the path of a database whose alice@example.org has
// *benchN messages in INBOX, made through mailbox.Append (the analysis
// of delivery) with concurrent writers sharing commits.
func benchDB(b *testing.B) string {
	benchOnce.Do(func() {
		dir := *benchDir
		if dir == "" {
			dir, benchErr = os.MkdirTemp("", "pillarbox-imap-bench")
			if benchErr != nil {
				return
			}
		}
		benchPath = filepath.Join(dir, fmt.Sprintf("bench-%d.db", *benchN))
		if _, err := os.Stat(benchPath); err == nil {
			return
		}
		benchErr = buildBenchDB(benchPath, *benchN)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPath
}

func buildBenchDB(path string, n int) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	db, err := sqlite.Open(tmp, sqlite.Options{})
	if err != nil {
		return err
	}
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.org"}, BcryptCost: 4,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := svc.AddUser(ctx, "alice@example.org", testPassword); err != nil {
		return err
	}
	acct, err := svc.Authenticate(ctx, "alice@example.org", testPassword)
	if err != nil {
		return err
	}
	start := time.Now()
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := w; i < n; i += workers {
				flags := []string(nil)
				if i%3 == 0 {
					flags = []string{mailbox.FlagSeen}
				}
				if _, _, err := svc.Append(ctx, acct.ID, "INBOX", benchMessage(r, i), flags, time.Time{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %d messages in %v\n", n, time.Since(start).Round(time.Millisecond))
	return os.Rename(tmp, path)
}

// benchServer is the server under test: Pillarbox on the benchmark
// database, or -imap.bench.addr.
type benchServer struct {
	b          *testing.B
	addr       string
	user, pass string
}

func benchEnv(b *testing.B) *benchServer {
	if *benchAddr != "" {
		return &benchServer{b: b, addr: *benchAddr, user: *benchUser, pass: *benchPass}
	}
	path := benchDB(b)
	e := newEnvAt(b, storetest.At(path), Options{Logger: slog.New(slog.NewTextHandler(benchLog{}, nil))}, false)
	return &benchServer{b: b, addr: e.addr, user: "alice@example.org", pass: testPassword}
}

// raw returns a logged-in connection.
func (s *benchServer) raw(string) *rawConn {
	c := dialRaw(s.b, s.addr, "")
	c.wait = 10 * time.Minute
	c.ok("LOGIN " + s.user + " " + s.pass)
	return c
}

// TestWriteBenchMaildir writes the benchmark messages as a Maildir for
// another server (-imap.bench.maildir).
func TestWriteBenchMaildir(t *testing.T) {
	if *benchMaildir == "" {
		t.Skip("no -imap.bench.maildir")
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(*benchMaildir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(0, 7))
	for i := 0; i < *benchN; i++ {
		flags := ""
		if i%3 == 0 {
			flags = "S"
		}
		name := fmt.Sprintf("%d.M%dP1.bench:2,%s", 1_700_000_000+i, i, flags)
		if err := os.WriteFile(filepath.Join(*benchMaildir, "cur", name), benchMessage(r, i), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	b.ResetTimer()
	for b.Loop() {
		contains(b, c.ok("SELECT "+benchMailbox()), fmt.Sprintf("* %d EXISTS", *benchN))
	}
}

func BenchmarkSelectIMAP4rev2(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("ENABLE IMAP4rev2")
	for b.Loop() {
		c.ok("SELECT " + benchMailbox())
	}
}

// BenchmarkSelectQResync selects the unchanged folder again with the
// UIDVALIDITY and HIGHESTMODSEQ its first SELECT gave (RFC 7162 3.2.5):
// the answer must say nothing of its messages.
func BenchmarkSelectQResync(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("ENABLE QRESYNC")
	got := strings.Join(c.ok("SELECT "+benchMailbox()), "\n")
	uv := regexp.MustCompile(`UIDVALIDITY (\d+)\]`).FindStringSubmatch(got)
	hms := regexp.MustCompile(`HIGHESTMODSEQ (\d+)\]`).FindStringSubmatch(got)
	if uv == nil || hms == nil {
		b.Fatalf("SELECT gave no UIDVALIDITY or HIGHESTMODSEQ:\n%s", got)
	}
	cmd := fmt.Sprintf("SELECT %s (QRESYNC (%s %s))", benchMailbox(), uv[1], hms[1])
	for b.Loop() {
		if got := strings.Join(c.ok(cmd), "\n"); strings.Contains(got, "VANISHED") || strings.Contains(got, "FETCH") {
			b.Fatalf("unchanged folder resynchronised with:\n%s", got)
		}
	}
}

func BenchmarkFetchAllFlags(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("SELECT " + benchMailbox())
	for b.Loop() {
		tag := c.send("FETCH 1:* (FLAGS)")
		n := 0
		for {
			l, err := c.r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(string(l), tag+" ") {
				break
			}
			n++
		}
		if n != *benchN {
			b.Fatalf("%d FETCH responses, want %d", n, *benchN)
		}
	}
}

func BenchmarkUIDFetchAllFlags(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("SELECT " + benchMailbox())
	for b.Loop() {
		tag := c.send("UID FETCH 1:* (FLAGS)")
		for {
			l, err := c.r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(string(l), tag+" ") {
				break
			}
		}
	}
}

func BenchmarkFetch100Full(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("SELECT " + benchMailbox())
	for b.Loop() {
		u := c.ok(fmt.Sprintf("FETCH %d:%d (UID FLAGS BODY.PEEK[])", *benchN/2+1, *benchN/2+100))
		if len(u) != 100 {
			b.Fatalf("%d responses", len(u))
		}
	}
}

func BenchmarkFetch100Structure(b *testing.B) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("SELECT " + benchMailbox())
	for b.Loop() {
		c.ok(fmt.Sprintf("FETCH %d:%d (UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])", *benchN-199, *benchN-100))
	}
}

func benchSearch(b *testing.B, criteria string, want int) {
	e := benchEnv(b)
	c := e.raw("alice")
	c.ok("SELECT " + benchMailbox())
	for b.Loop() {
		u := c.ok("UID SEARCH " + criteria)
		if got := len(strings.Fields(u[0])) - 2; want >= 0 && got != want {
			b.Fatalf("UID SEARCH %s: %d results, want %d", criteria, got, want)
		}
	}
}

func BenchmarkSearchHeader(b *testing.B)      { benchSearch(b, `FROM "sender42@"`, *benchN/500) }
func BenchmarkSearchSubjectWord(b *testing.B) { benchSearch(b, `SUBJECT " 4242"`, -1) }

// BenchmarkSearchSubjectAll looks for a string in every Subject, as
// pillarbox-bench's HEADER Subject does: nothing can narrow it.
func BenchmarkSearchSubjectAll(b *testing.B) { benchSearch(b, `HEADER Subject " "`, *benchN) }
func BenchmarkSearchBodyWord(b *testing.B)   { benchSearch(b, "BODY zanzibar", *benchN/10_000) }
func BenchmarkSearchBodyPhrase(b *testing.B) {
	benchSearch(b, `BODY "the zanzibar shipment"`, *benchN/10_000)
}
func BenchmarkSearchUnseen(b *testing.B) { benchSearch(b, "UNSEEN", -1) }

// BenchmarkIdleClients measures the memory 1000 sessions in IDLE cost
// the server (and the raw client sockets, which are small).
func BenchmarkIdleClients(b *testing.B) {
	e := benchEnv(b)
	const n = 1000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]*rawConn, n)
		for i := range conns {
			c := e.raw("alice")
			c.ok("SELECT " + benchMailbox())
			c.idle()
			conns[i] = c
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/(1<<20), "MB/1000idle")
		// A flag change by another session reaches every one of them.
		w := e.raw("alice")
		w.ok("SELECT " + benchMailbox())
		start := time.Now()
		w.ok(`STORE 1 +FLAGS.SILENT (\Flagged)`)
		for _, c := range conns {
			c.within(time.Second, `\Flagged`)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-to-notify-all")
		w.ok(`STORE 1 -FLAGS.SILENT (\Flagged)`)
		for _, c := range conns {
			c.c.Close()
		}
	}
}

// BenchmarkMixed runs many clients at once, each repeating a session of
// a mail client: login, select, fetch, store, append, expunge, logout.
// It reports commands per second; the mailbox is the same at the end.
func BenchmarkMixed(b *testing.B) {
	s := benchEnv(b)
	const clients = 32
	const perSession = 12 // commands in one session below, LOGIN included
	setup := s.raw("")
	setup.cmd("CREATE Drafts")
	setup.ok("LOGOUT")
	for b.Loop() {
		var wg sync.WaitGroup
		start := time.Now()
		sessions := 0
		var mu sync.Mutex
		for w := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				for range 4 {
					c := s.raw("")
					c.ok("SELECT " + benchMailbox())
					n := 1 + r.IntN(*benchN-20)
					c.ok(fmt.Sprintf("FETCH %d:%d (UID FLAGS)", n, n+19))
					c.ok(fmt.Sprintf("FETCH %d (BODY.PEEK[] UID)", n))
					c.ok(fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Flagged)", n))
					c.ok(fmt.Sprintf("STORE %d -FLAGS.SILENT (\\Flagged)", n))
					c.ok("UID SEARCH UNSEEN UID " + strconv.Itoa(n) + ":*")
					st := c.appendMsg("Drafts", `(\Draft) `, testMessage(n))
					var validity, uid uint32
					fmt.Sscanf(st, "OK [APPENDUID %d %d]", &validity, &uid)
					c.ok("SELECT Drafts")
					c.ok(fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, uid))
					c.ok(fmt.Sprintf("UID EXPUNGE %d", uid))
					c.ok("LOGOUT")
					mu.Lock()
					sessions++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(sessions*perSession)/time.Since(start).Seconds(), "commands/s")
	}
}

// benchLog shows the server's errors only.
type benchLog struct{}

func (benchLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "level=ERROR") {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

// benchMailbox is the mailbox the benchmarks select.
func benchMailbox() string {
	if *benchAddr != "" {
		return *benchBox
	}
	return "INBOX"
}
