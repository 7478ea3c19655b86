package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The state skiff keeps on the operator's machine, beside the inventory
// (.skiff/acme, folders 0700, files 0600):
//
//	account.key             the ACME account's key (EC P-256, PEM)
//	<domain>/cert.pem       the certificate and its chain, as served
//	<domain>/key.pem        the certificate's private key
//	<domain>/directory      the directory URL it was issued by
//
// A certificate is replaced only once its successor is complete: a failed
// issuance leaves the last good one (and the hosts serving it) alone.

// Local is a domain's certificate as kept locally.
type Local struct {
	Cert, Key []byte
	Directory string
	NotAfter  time.Time
	Names     []string
}

// Present reports whether a certificate is kept.
func (l *Local) Present() bool { return l != nil && len(l.Cert) > 0 }

// namesExactly reports whether the certificate names all of names and no
// other (case aside): a name added to or dropped from the task asks for a
// new certificate.
func (l *Local) namesExactly(names []string) bool {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.ToLower(n)] = true
	}
	have := map[string]bool{}
	for _, n := range l.Names {
		have[strings.ToLower(n)] = true
	}
	if len(have) != len(want) {
		return false
	}
	for n := range want {
		if !have[n] {
			return false
		}
	}
	return true
}

func domainDir(dir, domain string) string { return filepath.Join(dir, strings.ToLower(domain)) }

// ReadLocal reads domain's certificate from dir; a missing one is an empty
// Local, not an error.
func ReadLocal(dir, domain string) (*Local, error) {
	d := domainDir(dir, domain)
	cert, err := os.ReadFile(filepath.Join(d, "cert.pem"))
	if errors.Is(err, fs.ErrNotExist) {
		return &Local{}, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(d, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("the certificate for %s has no key: %w", domain, err)
	}
	directory, err := os.ReadFile(filepath.Join(d, "directory"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	leaf, err := leafOf(cert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(d, "cert.pem"), err)
	}
	return &Local{Cert: cert, Key: key, Directory: strings.TrimSpace(string(directory)), NotAfter: leaf.NotAfter, Names: leaf.DNSNames}, nil
}

func leafOf(bundle []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(bundle)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// writeLocal keeps a new certificate for domain, each file replaced
// whole (written beside, then renamed), the key first: a reader never
// sees a certificate without its key.
func writeLocal(dir, domain, directory string, cert, key []byte) error {
	d := domainDir(dir, domain)
	if err := privateDir(d); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"key.pem", key}, {"cert.pem", cert}, {"directory", []byte(directory + "\n")}} {
		if err := writePrivate(filepath.Join(d, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// privateDir makes dir and its parents that are missing, 0700, and makes
// sure dir itself is 0700.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// writePrivate replaces path with data, 0600 from its first byte.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// accountKey reads the account key kept in dir, or makes and keeps one.
func accountKey(dir string) (*ecdsa.PrivateKey, error) {
	p := filepath.Join(dir, "account.key")
	b, err := os.ReadFile(p)
	if err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: not a PEM key", p)
		}
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	if err := writePrivate(p, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return k, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
