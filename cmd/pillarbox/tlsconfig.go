package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// loadOrCreateCert returns the certificate for the server: certFile/keyFile
// (config tls.cert/tls.key) when set; otherwise a self-signed ECDSA P-256 certificate for hostname
// stored in dataDir as tls-cert.pem / tls-key.pem (key file mode 0600),
// created on first use and reused afterwards (regenerated if expired or
// unparsable, or if its names don't include hostname).
func loadOrCreateCert(certFile, keyFile, dataDir, hostname string, now time.Time) (tls.Certificate, error) {
	if (certFile == "") != (keyFile == "") {
		return tls.Certificate{}, errors.New("tls certificate: cert and key files must be given together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("tls certificate: load %s and %s: %w", certFile, keyFile, err)
		}
		return cert, nil
	}
	certPath := filepath.Join(dataDir, "tls-cert.pem")
	keyPath := filepath.Join(dataDir, "tls-key.pem")
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	for _, err := range []error{certErr, keyErr} {
		// Only a missing file is ours to replace; anything else (say,
		// permissions) wants the operator.
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
		}
	}
	if certErr == nil && keyErr == nil {
		if cert, err := tls.X509KeyPair(certPEM, keyPEM); err == nil && usable(cert, hostname, now) {
			return cert, nil
		}
	}
	certPEM, keyPEM, err := selfSigned(hostname, now)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	// A crash between the two renames leaves a key that does not match the
	// certificate; X509KeyPair refuses that pair and the next start
	// generates a new one.
	if err := writeFileAtomic(keyPath, keyPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	return cert, nil
}

// usable reports whether a stored self-signed certificate can be kept.
func usable(cert tls.Certificate, hostname string, now time.Time) bool {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return false
		}
	}
	return !now.Before(leaf.NotBefore) && now.Before(leaf.NotAfter) && leaf.VerifyHostname(hostname) == nil
}

// selfSigned returns a PEM certificate and PKCS #8 key for hostname, also
// valid for localhost and the loopback addresses.
func selfSigned(hostname string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial := new(big.Int)
	for serial.Sign() == 0 { // RFC 5280 section 4.1.2.2: positive
		if serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)); err != nil {
			return nil, nil, err
		}
	}
	names := []string{hostname}
	if hostname != "localhost" {
		names = append(names, "localhost")
	}
	notBefore := now.Add(-time.Hour) // tolerate clients whose clock is a little behind
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeFileAtomic writes data to path with mode 0600 through a synced
// temporary file and a rename, so path never holds a partial file.
func writeFileAtomic(path string, data []byte) error {
	return writeFileVerified(path, data, 0o600, nil)
}

// writeFileVerified writes data to a temporary file beside path with
// mode, syncs it, lets verify (if not nil) look at it by name, renames it
// over path and syncs the directory, so that path holds either its old
// contents or all of data, also after a crash. An error from verify
// leaves path as it was.
func writeFileVerified(path string, data []byte, mode os.FileMode, verify func(tmp string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if verify != nil {
		if err := verify(f.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// serverTLSConfig builds the *tls.Config used by every listener: MinVersion
// TLS 1.2, SessionTicketsDisabled: true (Microsoft's MTAs fail STARTTLS
// with tickets on port 25). The certificate comes from getCert at each
// handshake (a certHolder's), so that a reloaded pair needs no new config.
func serverTLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		GetCertificate:         getCert,
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
	}
}
