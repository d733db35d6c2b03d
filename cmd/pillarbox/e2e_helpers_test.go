package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/mailbox"
	"pillarbox/store"
	"pillarbox/store/pgtest"
	"pillarbox/store/storetest"
)

// binPath is the pillarbox binary built once by TestMain for the
// end-to-end tests.
var binPath string

// pg is the PostgreSQL server of the tests that need one (pgtest).
var pg *pgtest.Server

// testDSNs maps a test server's data_dir to its PostgreSQL database when
// the suite runs on that store (writeServeConfig, openDataDir).
var testDSNs sync.Map

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pillarbox-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "pillarbox")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building pillarbox: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Main(m, &pg)
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeServeConfig writes the config of a test server and returns its
// path: SMTP on loopback port 0, submission and IMAP off, domain
// example.test, sender checks off, data in dataDir, then whatever edit
// changes.
func writeServeConfig(t *testing.T, dataDir string, edit func(*Config)) string {
	t.Helper()
	c := DefaultConfig()
	c.Hostname = "mx.example.test"
	c.DataDir = dataDir
	c.Domains = []string{"example.test"}
	// No DNS in tests unless a test runs its own server ([dns] resolver):
	// the sender checks are off here.
	c.Inbound.Verify = false
	c.SMTP.Listen = "127.0.0.1:0"
	c.Submission.Listen = ""
	c.IMAP.Listen = ""
	c.Admin.Listen = ""
	// The tests' smarthosts are plaintext sinks; the tests of the
	// smarthost's TLS set this back.
	c.Relay.SmarthostTLS = "none"
	if storetest.Driver() == "postgres" {
		// The suite runs on PostgreSQL: the server's data goes to a
		// database of its own, which openDataDir finds by dataDir, and
		// a config written again for the same data_dir keeps it.
		dsn, ok := testDSNs.Load(dataDir)
		if !ok {
			dsn = pg.DB(t)
		}
		c.Store.Driver, c.Store.DSN = "postgres", dsn.(string)
	}
	if edit != nil {
		edit(c)
	}
	if c.Store.Driver == "postgres" {
		testDSNs.Store(dataDir, c.Store.DSN)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pillarbox.toml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cli runs the binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// mustCLI runs the binary and fails the test unless it exits 0.
func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, stdin, args...)
	if code != 0 {
		t.Fatalf("pillarbox %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// serveProc is a running `pillarbox serve` whose log lines a test can
// wait for.
type serveProc struct {
	cmd   *exec.Cmd
	addrs map[string]string // service name → listening address
	done  chan error        // cmd.Wait's result, once its log has ended

	mu     sync.Mutex
	lines  []string
	added  chan struct{} // closed and replaced when a line arrives
	ended  chan struct{} // closed when the log ends
	exited chan struct{} // closed when the process has been waited for
}

var listenRE = regexp.MustCompile(`msg=listening service=(\S+) addr=(\S+)`)

// waitReady reads a server's log until it reports ready.
func waitReady(r io.Reader, timeout time.Duration) error {
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "pillarbox ready") {
				ready <- nil
				io.Copy(io.Discard, r)
				return
			}
		}
		ready <- fmt.Errorf("server exited before ready")
	}()
	select {
	case err := <-ready:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("server not ready after %v", timeout)
	}
}

// startServer runs `pillarbox serve --config cfg` in dir and waits until
// it reports ready; the server is killed when the test ends.
func startServer(t *testing.T, cfg string, dir string) *serveProc {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--config", cfg)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{cmd: cmd, addrs: map[string]string{}, done: make(chan error, 1),
		added: make(chan struct{}), ended: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			close(s.added)
			s.added = make(chan struct{})
			s.mu.Unlock()
		}
		close(s.ended)
		err := cmd.Wait()
		close(s.exited)
		s.done <- err
	}()
	t.Cleanup(func() {
		// exited, not cmd.ProcessState, which Wait writes on the
		// goroutine above.
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
	})
	s.waitLog(t, "pillarbox ready", 30*time.Second)
	s.mu.Lock()
	for _, l := range s.lines {
		if m := listenRE.FindStringSubmatch(l); m != nil {
			s.addrs[m[1]] = m[2]
		}
	}
	s.mu.Unlock()
	return s
}

// waitLog waits for a log line matching pattern and returns it; it fails
// the test if none comes within limit or the server exits first.
func (s *serveProc) waitLog(t *testing.T, pattern string, limit time.Duration) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.After(limit)
	for seen := 0; ; {
		s.mu.Lock()
		for ; seen < len(s.lines); seen++ {
			if re.MatchString(s.lines[seen]) {
				l := s.lines[seen]
				s.mu.Unlock()
				return l
			}
		}
		added := s.added
		s.mu.Unlock()
		select {
		case <-added:
		case <-s.ended:
			s.mu.Lock()
			more := seen < len(s.lines)
			s.mu.Unlock()
			if !more {
				t.Fatalf("server exited without a log line matching %q; log:\n%s", pattern, s.log())
			}
		case <-deadline:
			t.Fatalf("no log line matching %q after %v; log:\n%s", pattern, limit, s.log())
		}
	}
}

// log returns the server's log so far.
func (s *serveProc) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// stop sends SIGTERM and waits for a clean exit.
func (s *serveProc) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve exited with %v; log:\n%s", err, s.log())
		}
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		t.Fatal("serve did not stop after SIGTERM")
	}
}

// kill sends SIGKILL and waits for the process to go.
func (s *serveProc) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// openDataDir opens a data dir's store and service for checking what a
// stopped server left behind.
func openDataDir(t *testing.T, dataDir string) (store.Store, *mailbox.Service) {
	t.Helper()
	db := openDataStore(t, dataDir)
	svc, err := mailbox.New(db, mailbox.Options{Domains: []string{"example.test", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	return db, svc
}

// sqliteStore is a writeServeConfig edit for the tests of the SQLite
// store's files, which run on it whatever store the suite runs on.
func sqliteStore(c *Config) { c.Store.Driver, c.Store.DSN = "sqlite", "" }

// openDataStore opens the store of a test server's data dir, closed when
// t ends: its SQLite file, or the PostgreSQL database writeServeConfig
// gave it.
func openDataStore(t *testing.T, dataDir string) store.Store {
	t.Helper()
	loc := storetest.At(filepath.Join(dataDir, "pillarbox.db"))
	if dsn, ok := testDSNs.Load(dataDir); ok {
		loc = storetest.AtDSN(dsn.(string))
	}
	return loc.Open(t)
}

// messageIDs returns how often each Message-ID occurs in a mailbox.
func messageIDs(t *testing.T, db store.Store, address, name string) map[string]int {
	t.Helper()
	ctx := context.Background()
	acct, err := db.AccountByAddress(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := db.MailboxByName(ctx, acct.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.Messages(ctx, mb.ID, 1, ^uint32(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, m := range msgs {
		env, _, err := db.BlobMeta(ctx, m.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		var e mailbox.Envelope
		if err := json.Unmarshal(env, &e); err != nil {
			t.Fatal(err)
		}
		ids[e.MessageID]++
	}
	return ids
}

// lockedBuffer is a strings.Builder safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Contains(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), sub)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// serveSink runs a go-smtp server on loopback with a new session from
// newSession per connection, and returns its address. The server stops
// when the test ends, after cleanup (if not nil) runs.
func serveSink(t *testing.T, newSession func() gosmtp.Session, cleanup func()) string {
	t.Helper()
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return newSession(), nil
	}))
	srv.Domain = "sink.test"
	srv.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		if cleanup != nil {
			cleanup()
		}
		srv.Close()
	})
	return ln.Addr().String()
}

// freePorts returns n distinct loopback ports that were free a moment
// ago, for listeners whose ports must be known before they start
// (Pebble's, the ports the web documents name).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	// Below Linux's ephemeral range (32768 and up by default): a port
	// the kernel picked for a listener on :0 would be free again once
	// closed, and could go to any test's outgoing connection before the
	// server binds it ("address already in use"). One the kernel never
	// hands out is taken only by another random pick, which is why the
	// picks of one call are kept apart.
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			t.Fatal("no free port below 32000 on 127.0.0.1")
		}
		port := 10000 + rand.IntN(22000)
		if slices.Contains(ports, port) {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, port)
	}
	return ports
}

// submissionLogin connects to the submission listener at addr (with
// STARTTLS if startTLS, not verifying the certificate), greets as helo and
// logs in with AUTH PLAIN; the client is closed when the test ends.
func submissionLogin(t *testing.T, addr, helo, user, pass string, startTLS bool) *gosmtp.Client {
	t.Helper()
	var c *gosmtp.Client
	var err error
	if startTLS {
		c, err = gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = gosmtp.Dial(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello(helo); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatal(err)
	}
	return c
}
