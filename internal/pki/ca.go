// Package pki is skiff's local certificate authority. When a site gives no
// tls_cert_file/tls_key_file, this CA issues the server certificates, and
// keeps them in .skiff/pki/ beside the inventory so that a rerun returns the
// same bytes and changes nothing on the hosts.
//
// Layout under the pki directory:
//
//	ca.key               the CA's private key (ECDSA P-256, PKCS#8 PEM, 0600)
//	ca.crt               the CA certificate that clients trust
//	issued/NAME.crt      a server certificate (leaf only)
//	issued/NAME.key      its private key (0600)
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiffdeploy/skiff/internal/localfile"
)

const (
	caKeyFile  = "ca.key"
	caCertFile = "ca.crt"
	issuedDir  = "issued"

	caValidity = 10 * 365 * 24 * time.Hour
	// backdate covers clocks of hosts that run a little behind the laptop's.
	backdate = time.Hour
)

// CA is an opened local certificate authority. Its methods are safe for
// concurrent use by many goroutines.
type CA struct {
	// Now is the clock used to issue certificates and to judge whether a
	// stored one is still good; nil means time.Now. Set it before first use.
	Now func() time.Time

	dir     string
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer

	// mu serializes Issue, so goroutines planning hosts in parallel never
	// issue the same name twice or interleave writes to issued/.
	mu sync.Mutex
}

// Open opens the CA kept in dir (normally <inventory dir>/.skiff/pki),
// creating dir (0700) and, on first use, the CA key and certificate.
// Existing files are loaded and never overwritten. Two processes opening the
// same fresh dir at once end up with the same CA: each file is created with
// link(2), which never replaces, and the loser reads the winner's file.
func Open(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create %s: %w", dir, err)
	}
	key, err := loadOrCreateKey(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	cert, certPEM, err := loadOrCreateCACert(filepath.Join(dir, caCertFile), key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	return &CA{dir: dir, cert: cert, certPEM: certPEM, key: key}, nil
}

// Dir is the directory the CA lives in.
func (ca *CA) Dir() string { return ca.dir }

// CertPEM returns the CA certificate, PEM encoded: what clients must trust.
// The caller must not modify it.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Certificate returns the parsed CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

// loadOrCreateKey reads the key at path, first creating it if it is missing.
// The key is written before the certificate, so a crash in between leaves a
// key that the next Open simply completes with a certificate.
func loadOrCreateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		keyPEM, err := newKeyPEM()
		if err != nil {
			return nil, err
		}
		if _, err := localfile.Exclusive(path, keyPEM, 0o600); err != nil {
			return nil, err
		}
		// Whether we won or lost the race, the file on disk is the key.
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// loadOrCreateCACert reads the CA certificate at path, first self-signing
// one with key if it is missing, and checks that it belongs to key.
func loadOrCreateCACert(path string, key crypto.Signer) (*x509.Certificate, []byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		certPEM, err := newCACertPEM(key, time.Now())
		if err != nil {
			return nil, nil, err
		}
		if _, err := localfile.Exclusive(path, certPEM, 0o644); err != nil {
			return nil, nil, err
		}
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
	} else if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	cert, err := parseCertPEM(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("%s: not a CA certificate", path)
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("%s does not belong to the key in %s", path, caKeyFile)
	}
	return cert, data, nil
}

func newCACertPEM(key crypto.Signer, now time.Time) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown host"
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("skiff local CA (%s)", host)},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	// Self-signed: Go derives the SubjectKeyId from the key for CAs.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// newKeyPEM generates an ECDSA P-256 key as PKCS#8 PEM.
func newKeyPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseKeyPEM reads a PKCS#8 "PRIVATE KEY" PEM block.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PKCS#8 PRIVATE KEY PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return signer, nil
}

// parseCertPEM reads the first CERTIFICATE PEM block.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// randomSerial returns a positive 128-bit random serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("random serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}
