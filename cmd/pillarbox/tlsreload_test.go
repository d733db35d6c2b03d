package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pemPair is a generated certificate and key in PEM.
type pemPair struct{ cert, key []byte }

func newPEMPair(t *testing.T) pemPair {
	t.Helper()
	c, k, err := selfSigned("mail.example.org", testNow)
	if err != nil {
		t.Fatal(err)
	}
	return pemPair{c, k}
}

// der is the pair's certificate as a handshake would send it.
func (p pemPair) der(t *testing.T) []byte {
	t.Helper()
	c, err := tls.X509KeyPair(p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

// holderFixture is a certHolder over files in a temp dir, with a clock
// the test moves and a log it reads.
type holderFixture struct {
	h                 *certHolder
	now               time.Time
	log               bytes.Buffer
	certFile, keyFile string
}

func newHolderFixture(t *testing.T, p pemPair) *holderFixture {
	t.Helper()
	dir := t.TempDir()
	f := &holderFixture{now: testNow, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	f.write(t, f.certFile, p.cert)
	f.write(t, f.keyFile, p.key)
	h, err := newCertHolder(certHolderOptions{CertFile: f.certFile, KeyFile: f.keyFile,
		Now: func() time.Time { return f.now }, Interval: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&f.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// write replaces a file by rename, as certbot and most tools do.
func (f *holderFixture) write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := writeFileAtomic(path, data); err != nil {
		t.Fatal(err)
	}
}

// served is the certificate a handshake would get now.
func (f *holderFixture) served(t *testing.T) []byte {
	t.Helper()
	c, err := f.h.GetCertificate(&tls.ClientHelloInfo{ServerName: "mail.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

func TestCertHolderSeesChangedFiles(t *testing.T) {
	t.Parallel()
	a, b := newPEMPair(t), newPEMPair(t)
	f := newHolderFixture(t, a)
	if !bytes.Equal(f.served(t), a.der(t)) {
		t.Fatal("first handshake did not get the pair from the files")
	}
	f.write(t, f.keyFile, b.key)
	f.write(t, f.certFile, b.cert)

	f.now = f.now.Add(4 * time.Second)
	if !bytes.Equal(f.served(t), a.der(t)) {
		t.Error("files looked at again before the interval")
	}
	f.now = f.now.Add(time.Second)
	if !bytes.Equal(f.served(t), b.der(t)) {
		t.Fatalf("new pair not served after the interval; log:\n%s", f.log.String())
	}
	if !strings.Contains(f.log.String(), `msg="tls certificate reloaded" reason="files changed"`) {
		t.Errorf("reload not logged:\n%s", f.log.String())
	}
	// Unchanged files are not read again.
	f.now = f.now.Add(time.Minute)
	f.served(t)
	if n := strings.Count(f.log.String(), "tls certificate reloaded"); n != 1 {
		t.Errorf("%d reloads logged, want 1:\n%s", n, f.log.String())
	}
}

func TestCertHolderSeesFileRewrittenInPlace(t *testing.T) {
	t.Parallel()
	a, b := newPEMPair(t), newPEMPair(t)
	f := newHolderFixture(t, a)
	// Same inode; another size or modification time.
	if err := os.WriteFile(f.keyFile, b.key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.certFile, b.cert, 0o600); err != nil {
		t.Fatal(err)
	}
	later := testNow.Add(time.Hour) // the real clock may not have moved
	for _, p := range []string{f.certFile, f.keyFile} {
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(5 * time.Second)
	if !bytes.Equal(f.served(t), b.der(t)) {
		t.Fatalf("pair rewritten in place not served; log:\n%s", f.log.String())
	}
}

func TestCertHolderKeepsPairOnBadFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// damage leaves the files unusable after the good pair a.
		damage func(t *testing.T, f *holderFixture, b pemPair)
		want   string
	}{
		{"half-written certificate", func(t *testing.T, f *holderFixture, b pemPair) {
			f.write(t, f.keyFile, b.key)
			f.write(t, f.certFile, b.cert[:len(b.cert)/2])
		}, "failed to find any PEM data in certificate input"},
		{"key not matching", func(t *testing.T, f *holderFixture, b pemPair) {
			f.write(t, f.certFile, b.cert)
		}, "private key does not match public key"},
		{"garbage key", func(t *testing.T, f *holderFixture, b pemPair) {
			f.write(t, f.certFile, b.cert)
			f.write(t, f.keyFile, []byte("not a key\n"))
		}, "failed to find any PEM data in key input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPEMPair(t), newPEMPair(t)
			f := newHolderFixture(t, a)
			tc.damage(t, f, b)

			// On a handshake after the interval ...
			f.now = f.now.Add(5 * time.Second)
			if !bytes.Equal(f.served(t), a.der(t)) {
				t.Fatal("bad files replaced the pair in use")
			}
			if !strings.Contains(f.log.String(), "level=ERROR") || !strings.Contains(f.log.String(), tc.want) {
				t.Errorf("failed reload not logged with %q:\n%s", tc.want, f.log.String())
			}
			// ... once, not at every look while the files stay as they are ...
			f.now = f.now.Add(time.Minute)
			f.served(t)
			if n := strings.Count(f.log.String(), "reload failed"); n != 1 {
				t.Errorf("%d failures logged, want 1:\n%s", n, f.log.String())
			}
			// ... and on SIGHUP.
			if err := f.h.Reload("signal hangup"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Reload error = %v, want one containing %q", err, tc.want)
			}
			if !bytes.Equal(f.served(t), a.der(t)) {
				t.Fatal("bad files replaced the pair in use on Reload")
			}

			// Once the whole pair is written, the next look takes it.
			f.write(t, f.keyFile, b.key)
			f.write(t, f.certFile, b.cert)
			f.now = f.now.Add(5 * time.Second)
			if !bytes.Equal(f.served(t), b.der(t)) {
				t.Fatalf("good pair after a bad one not served; log:\n%s", f.log.String())
			}
		})
	}
}

func TestCertHolderFileMissingForAMoment(t *testing.T) {
	t.Parallel()
	a := newPEMPair(t)
	f := newHolderFixture(t, a)
	if err := os.Remove(f.certFile); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(5 * time.Second)
	if !bytes.Equal(f.served(t), a.der(t)) {
		t.Fatal("pair in use dropped while a file is missing")
	}
	if f.log.Len() != 0 {
		t.Errorf("a file missing between two writes was logged:\n%s", f.log.String())
	}
	if err := f.h.Reload("signal hangup"); err == nil || !strings.Contains(err.Error(), "cert.pem") {
		t.Errorf("Reload with a missing file: error = %v, want one naming cert.pem", err)
	}
}

func TestCertHolderReloadOnSignal(t *testing.T) {
	t.Parallel()
	a, b := newPEMPair(t), newPEMPair(t)
	f := newHolderFixture(t, a)
	f.write(t, f.keyFile, b.key)
	f.write(t, f.certFile, b.cert)

	sig := make(chan os.Signal) // unbuffered: a send returns once the worker took it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reloadOnSignal(f.h.Reload, sig)(ctx) }()
	sig <- syscall.SIGHUP
	// The worker takes this second one only after the first reload.
	sig <- syscall.SIGHUP
	// No clock movement: the signal, not the interval, reloaded.
	if !bytes.Equal(f.served(t), b.der(t)) {
		t.Fatalf("SIGHUP did not load the new pair; log:\n%s", f.log.String())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop with its context")
	}
	if !strings.Contains(f.log.String(), `reason="signal hangup"`) {
		t.Errorf("reload by signal not logged:\n%s", f.log.String())
	}
}

func TestCertHolderStatic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := mustCert(t, "", "", dir, "mail.example.org", testNow)
	var log bytes.Buffer
	h, err := newCertHolder(certHolderOptions{Static: cert, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || !bytes.Equal(got.Certificate[0], cert.Certificate[0]) {
		t.Fatalf("GetCertificate = %v, want the self-signed certificate", err)
	}
	if err := h.Reload("signal hangup"); err != nil {
		t.Errorf("Reload without files: %v", err)
	}
	if !strings.Contains(log.String(), "nothing to reload") {
		t.Errorf("log:\n%s", log.String())
	}
	if _, err := newCertHolder(certHolderOptions{CertFile: "c.pem"}); err == nil {
		t.Error("a cert file without a key file was accepted")
	}
	if _, err := newCertHolder(certHolderOptions{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: filepath.Join(dir, "tls-key.pem")}); err == nil {
		t.Error("a missing cert file at start was accepted")
	}
}
