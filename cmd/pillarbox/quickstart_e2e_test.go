package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"pillarbox/smtp/msgauth/dnstest"
)

// quickstartRun runs quickstart for mx.example.test and example.test
// with its config and data under dir, and returns the paths and stdout.
func quickstartRun(t *testing.T, dir string, extra ...string) (cfg, data, out string) {
	t.Helper()
	cfg = filepath.Join(dir, "etc", "pillarbox.toml")
	data = filepath.Join(dir, "data")
	args := append([]string{"quickstart", "--config", cfg, "--data-dir", data}, extra...)
	out = mustCLI(t, "", append(args, "mx.example.test", "example.test")...)
	return cfg, data, out
}

// postmasterPassword is the password quickstart printed.
func postmasterPassword(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^created postmaster@example\.test with password (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no postmaster password in the output:\n%s", out)
	}
	return m[1]
}

// TestQuickstartEndToEnd runs quickstart into a temp dir and checks what
// it leaves: a production config that loads, the domain with its
// postmaster and DKIM keys in the database, the DNS records exactly as
// `pillarbox dns` prints them, and a unit that runs this binary as
// pillarbox. Then serve starts with that config, moved to loopback, and
// a message to postmaster is read over IMAP with the printed password.
func TestQuickstartEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath, data, out := quickstartRun(t, dir)

	fi, err := os.Stat(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("config mode %v, want 0640", fi.Mode().Perm())
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatalf("the config quickstart wrote does not load: %v", err)
	}
	for _, c := range []struct{ key, got, want string }{
		{"hostname", cfg.Hostname, "mx.example.test"},
		{"domains", strings.Join(cfg.Domains, ","), "example.test"},
		{"data_dir", cfg.DataDir, data},
		{"smtp.listen", cfg.SMTP.Listen, ":25"},
		{"submission.listen", cfg.Submission.Listen, ":587"},
		{"submission.listen_tls", cfg.Submission.ListenTLS, ":465"},
		{"imap.listen", cfg.IMAP.Listen, ":143"},
		{"imap.listen_tls", cfg.IMAP.ListenTLS, ":993"},
		{"http.listen", cfg.HTTP.Listen, ":80"},
		{"https.listen", cfg.HTTPS.Listen, ":443"},
		{"admin.listen", cfg.Admin.Listen, "127.0.0.1:2780"},
		{"tls.acme", fmt.Sprint(cfg.TLS.ACME), "true"},
		{"tls.acme_email", cfg.TLS.ACMEEmail, "postmaster@example.test"},
		{"tls.acme_directory", cfg.TLS.ACMEDirectory, DefaultConfig().TLS.ACMEDirectory},
		{"inbound", fmt.Sprint(cfg.Inbound.Verify, cfg.Inbound.DMARCReject, cfg.Inbound.RefuseLocalSpoof), "true true true"},
	} {
		if c.got != c.want {
			t.Errorf("config %s = %q, want %q", c.key, c.got, c.want)
		}
	}

	// The domain, its postmaster with the printed password, and its two
	// DKIM keys are in the database.
	password := postmasterPassword(t, out)
	if n := strings.Count(out, password); n != 1 {
		t.Errorf("the password appears %d times in the output, want once", n)
	}
	db, svc := openDataDir(t, data)
	ctx := t.Context()
	if _, err := svc.Authenticate(ctx, "postmaster@example.test", password); err != nil {
		t.Fatalf("postmaster@example.test with the printed password: %v", err)
	}
	doms, err := svc.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys int
	for _, d := range doms {
		if d.Name == "example.test" && d.InDatabase {
			keys = len(d.Keys)
		}
	}
	if keys != 2 {
		t.Fatalf("example.test in the database with %d DKIM keys, want 2 (domains %+v)", keys, doms)
	}
	db.Close()

	// The DNS records are `pillarbox dns`'s, to the byte.
	zone := mustCLI(t, "", "dns", "example.test", "--config", cfgPath)
	if !strings.Contains(out, zone) || !strings.Contains(zone, "._domainkey.example.test. IN TXT") {
		t.Errorf("quickstart's output lacks `pillarbox dns example.test`:\n%s\nquickstart printed:\n%s", zone, out)
	}

	unit := quickstartUnit(t, out)
	for _, want := range []string{
		"\nExecStart=" + binPath + " serve --config " + cfgPath + "\n",
		"\nUser=pillarbox\n", "\nGroup=pillarbox\n",
		"\nReadWritePaths=" + data + "\n",
		"\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", strings.TrimSpace(want), unit)
		}
	}
	// systemd's SIGKILL must not cut serve's own grace short.
	if m := regexp.MustCompile(`\nTimeoutStopSec=(\d+)s\n`).FindStringSubmatch(unit); m == nil {
		t.Errorf("unit has no TimeoutStopSec in seconds:\n%s", unit)
	} else if stop, _ := time.ParseDuration(m[1] + "s"); stop <= shutdownGrace {
		t.Errorf("TimeoutStopSec %v, want more than serve's grace %v", stop, shutdownGrace)
	}
	verifyUnit(t, unit)
	for _, want := range []string{"useradd --system", "chown -R pillarbox:pillarbox " + data,
		"systemctl enable --now pillarbox", "dns check example.test --config " + cfgPath, "25 (MX)", "PTR record"} {
		if !strings.Contains(out, want) {
			t.Errorf("next steps lack %q:\n%s", want, out)
		}
	}

	// serve starts with the config. Only what would leave loopback in a
	// test is changed: the listen addresses (the production ports are
	// privileged and public), ACME (it would ask Let's Encrypt; the
	// acme_email goes with it, as the config requires) and the resolver
	// (the inbound checks stay on, asking the test's DNS server instead
	// of the system's).
	dns := dnstest.Start(t)
	dns.SetTXT("partner.test", "v=spf1 ip4:127.0.0.1 -all")
	cfg.SMTP.Listen = "127.0.0.1:0"
	cfg.Submission.Listen, cfg.Submission.ListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	cfg.IMAP.Listen, cfg.IMAP.ListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTP.Listen, cfg.HTTPS.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS.ACME, cfg.TLS.ACMEEmail = false, ""
	cfg.DNS.Resolver = dns.Addr()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	loopCfg := filepath.Join(dir, "loopback.toml")
	if err := os.WriteFile(loopCfg, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, loopCfg, dir)
	for _, name := range []string{"smtp", "submission", "submissions", "imap", "imaps"} {
		if srv.addrs[name] == "" {
			t.Fatalf("serve does not listen for %s; log:\n%s", name, srv.log())
		}
	}
	c, err := gosmtp.Dial(srv.addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	const subject = "first mail to a quickstarted host"
	err = c.SendMail("alice@partner.test", []string{"postmaster@example.test"},
		strings.NewReader("From: <alice@partner.test>\r\nTo: <postmaster@example.test>\r\nSubject: "+subject+"\r\n\r\nhello\r\n"))
	c.Close()
	if err != nil {
		t.Fatalf("delivering to postmaster: %v; log:\n%s", err, srv.log())
	}

	// Over implicit TLS, checked against the certificate serve made in
	// data_dir for the hostname.
	pem, err := os.ReadFile(filepath.Join(data, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("tls-cert.pem holds no certificate")
	}
	ic, err := imapclient.DialTLS(srv.addrs["imaps"], &imapclient.Options{
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "mx.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("postmaster@example.test", password).Wait(); err != nil {
		t.Fatalf("IMAP login with the printed password: %v", err)
	}
	sel, err := ic.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 {
		t.Fatalf("postmaster's INBOX holds %d messages, want 1", sel.NumMessages)
	}
	msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Envelope == nil || msgs[0].Envelope.Subject != subject {
		t.Fatalf("fetched %+v, want the message with subject %q", msgs, subject)
	}
	ic.Logout().Wait()
	srv.stop(t)
}

// quickstartUnit returns the unit in quickstart's output, from [Unit]
// to the next section of the output.
func quickstartUnit(t *testing.T, out string) string {
	t.Helper()
	_, unit, ok := strings.Cut(out, "\n[Unit]\n")
	if !ok {
		t.Fatalf("no unit in the output:\n%s", out)
	}
	unit, _, _ = strings.Cut(unit, "\n=== ")
	return "[Unit]\n" + unit
}

// verifyUnit runs systemd-analyze verify on unit when the machine has it:
// it fails on an unknown key, a bad value or a command that is not there.
func verifyUnit(t *testing.T, unit string) {
	t.Helper()
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit is not verified")
		return
	}
	path := filepath.Join(t.TempDir(), "pillarbox.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(tool, "verify", path).CombinedOutput()
	// Other units of the machine may draw warnings; the unit's own lines
	// name it.
	if err != nil || strings.Contains(string(got), "pillarbox.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, got, unit)
	}
}

// treeDigest returns every file and directory under dir with its mode
// and a hash of its content, to show that a run changed nothing.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[path] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test unless dir is as before.
func sameTree(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	after := treeDigest(t, dir)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed %s: %q, was %q", what, p, after[p], v)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s made %s", what, p)
		}
	}
}

// TestQuickstartExistingConfig: a second run without --force refuses in
// one line and changes nothing; with --force it rewrites the config
// (here without ACME) and keeps the domain, its keys and the
// postmaster's password.
func TestQuickstartExistingConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath, data, out := quickstartRun(t, dir)
	password := postmasterPassword(t, out)
	zone := mustCLI(t, "", "dns", "example.test", "--config", cfgPath)
	before := treeDigest(t, dir)

	stdout, stderr, code := cli(t, "", "quickstart", "--config", cfgPath, "--data-dir", data, "mx.example.test", "example.test")
	if code == 0 || stdout != "" || stderr != "pillarbox: quickstart: "+cfgPath+" exists; --force overwrites it\n" {
		t.Fatalf("second run: exit %d, stdout %q, stderr %q; want exit 1 and one line", code, stdout, stderr)
	}
	sameTree(t, "a refused run", dir, before)
	first, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	_, _, out = quickstartRun(t, dir, "--force", "--no-acme")
	// The config replaced is kept beside the new one.
	if bak, err := os.ReadFile(cfgPath + ".bak"); err != nil || !bytes.Equal(bak, first) {
		t.Errorf("%s.bak after --force: %v, same as the first config: %v", cfgPath, err, bytes.Equal(bak, first))
	}
	if strings.Contains(out, "with password ") || !strings.Contains(out, "example.test was already in "+data) {
		t.Errorf("--force run over an existing domain:\n%s", out)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.ACME || cfg.TLS.ACMEEmail != "" {
		t.Errorf("--no-acme: tls.acme %v, acme_email %q", cfg.TLS.ACME, cfg.TLS.ACMEEmail)
	}
	if !strings.Contains(out, zone) {
		t.Errorf("the DNS records changed with --force:\n%s\nwas:\n%s", out, zone)
	}
	_, svc := openDataDir(t, data)
	if _, err := svc.Authenticate(t.Context(), "postmaster@example.test", password); err != nil {
		t.Errorf("the first run's password after --force: %v", err)
	}
}

// TestQuickstartBadInput: each mistake is one line on stderr, a non-zero
// exit, and nothing written.
func TestQuickstartBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		setup func(dir string) // what is there before the run
		args  []string         // before HOSTNAME DOMAIN; {{dir}} is the temp dir
		host  string
		want  string // in the error line
	}{
		{"empty label", nil, nil, "mx..example.test", `HOSTNAME: invalid domain name "mx..example.test"`},
		{"single label", nil, nil, "mx", `HOSTNAME: "mx" is not a fully qualified name`},
		{"IP address", nil, nil, "192.0.2.1", "an IP address"},
		{"underscore", nil, nil, "mx_1.example.test", `HOSTNAME: invalid domain name`},
		{"acme email without acme", nil, []string{"--no-acme", "--acme-email", "me@example.test"}, "mx.example.test", "--acme-email is for ACME"},
		{"bad acme email", nil, []string{"--acme-email", "not an address"}, "mx.example.test", "--acme-email"},
		{"data dir parent missing", nil, []string{"--data-dir", "{{dir}}/no/data"}, "mx.example.test", "its parent directory"},
		{"data dir is a file", func(dir string) { os.WriteFile(filepath.Join(dir, "file"), nil, 0o600) },
			[]string{"--data-dir", "{{dir}}/file"}, "mx.example.test", "exists and is not a directory"},
		{"config is a directory", func(dir string) { os.Mkdir(filepath.Join(dir, "cfgdir"), 0o700) },
			[]string{"--config", "{{dir}}/cfgdir"}, "mx.example.test", "is a directory"},
		{"config dir parent missing", nil, []string{"--config", "{{dir}}/a/b/pillarbox.toml"}, "mx.example.test", "config directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if c.setup != nil {
				c.setup(dir)
			}
			before := treeDigest(t, dir)
			args := []string{"quickstart", "--config", filepath.Join(dir, "pillarbox.toml"), "--data-dir", filepath.Join(dir, "data")}
			for _, a := range c.args {
				args = append(args, strings.ReplaceAll(a, "{{dir}}", dir))
			}
			stdout, stderr, code := cli(t, "", append(args, c.host, "example.test")...)
			if code == 0 || stdout != "" || strings.Count(stderr, "\n") != 1 ||
				!strings.HasPrefix(stderr, "pillarbox: quickstart") || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want one error line with %q", code, stdout, stderr, c.want)
			}
			sameTree(t, "a refused run", dir, before)
		})
	}
}

// TestQuickstartHelp: --help and -h print quickstart's usage and flags.
func TestQuickstartHelp(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--help", "-h"} {
		out, errOut, code := cli(t, "", "quickstart", flag)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage:\n  pillarbox quickstart HOSTNAME DOMAIN") ||
			!strings.Contains(out, "-data-dir") || !strings.Contains(out, "/etc/pillarbox/pillarbox.toml") {
			t.Errorf("quickstart %s: exit %d, stderr %q, stdout:\n%s", flag, code, errOut, out)
		}
	}
}
