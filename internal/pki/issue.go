package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/localfile"
)

const (
	leafValidity = 397 * 24 * time.Hour
	// renewBefore: a stored certificate with less validity left is reissued.
	renewBefore = 30 * 24 * time.Hour
)

// Issue returns a server certificate (leaf PEM only) and its private key
// (PKCS#8 PEM) named name, for the given DNS names and IP addresses; at least
// one of the two must be non-empty. The pair is kept as issued/NAME.crt and
// issued/NAME.key (0600). A stored pair is returned byte for byte when it was
// signed by this CA, its key matches, its SANs are exactly the requested ones
// (order and duplicates do not matter) and it stays valid for more than 30
// days; otherwise a new pair (ECDSA P-256, ServerAuth, 397 days, CN = first
// DNS name) replaces it atomically.
func (ca *CA) Issue(name string, dnsNames []string, ips []string) (certPEM, keyPEM []byte, err error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	dns, addrs, err := normalizeSANs(dnsNames, ips)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %q: %w", name, err)
	}

	ca.mu.Lock()
	defer ca.mu.Unlock()

	dir := filepath.Join(ca.dir, issuedDir)
	certPath := filepath.Join(dir, name+".crt")
	keyPath := filepath.Join(dir, name+".key")
	now := ca.now()

	if certPEM, keyPEM, ok := ca.stored(certPath, keyPath, dns, addrs, now); ok {
		return certPEM, keyPEM, nil
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("certificate %q: create %s: %w", name, dir, err)
	}
	certPEM, keyPEM, err = ca.sign(name, dns, addrs, now)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %q: %w", name, err)
	}
	// Key first: a reader that sees the new certificate with the old key
	// (another skiff process, or a crash in between) finds they do not
	// match and issues again, rather than using a broken pair.
	if err := localfile.Replace(keyPath, keyPEM, 0o600); err != nil {
		return nil, nil, fmt.Errorf("certificate %q: %w", name, err)
	}
	if err := localfile.Replace(certPath, certPEM, 0o644); err != nil {
		return nil, nil, fmt.Errorf("certificate %q: %w", name, err)
	}
	return certPEM, keyPEM, nil
}

// stored returns the pair kept on disk if it still serves the request.
func (ca *CA) stored(certPath, keyPath string, dns []string, addrs []netip.Addr, now time.Time) (certPEM, keyPEM []byte, ok bool) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, false
	}
	keyPEM, err = os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, false
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, nil, false
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, false
	}
	switch {
	case cert.CheckSignatureFrom(ca.cert) != nil,
		!samePublicKey(cert.PublicKey, key.Public()),
		!slices.Equal(normalizeDNS(cert.DNSNames), normalizeDNS(dns)),
		!slices.Equal(certAddrs(cert.IPAddresses), addrs),
		now.Before(cert.NotBefore),
		!now.Add(renewBefore).Before(cert.NotAfter):
		return nil, nil, false
	}
	return certPEM, keyPEM, true
}

// sign makes a new key and a leaf certificate for it signed by the CA.
func (ca *CA) sign(name string, dns []string, addrs []netip.Addr, now time.Time) (certPEM, keyPEM []byte, err error) {
	keyPEM, err = newKeyPEM()
	if err != nil {
		return nil, nil, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	cn := name
	if len(dns) > 0 {
		cn = dns[0]
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = net.IP(a.AsSlice())
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(leafValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// checkName accepts names that are safe as a file name in issued/.
func checkName(name string) error {
	if name == "" {
		return errors.New("certificate name is empty")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && (r == '.' || r == '-' || r == '_')
		if !ok {
			return fmt.Errorf("certificate name %q: use letters, digits, '.', '-' and '_', starting with a letter or digit", name)
		}
	}
	return nil
}

// normalizeSANs validates the requested SANs and returns them in the form
// stored certificates are compared in: DNS names in request order without
// duplicates (the first one becomes the CN), addresses sorted.
func normalizeSANs(dnsNames, ips []string) ([]string, []netip.Addr, error) {
	var dns []string
	for _, d := range dnsNames {
		d = strings.TrimSpace(d)
		if d == "" || strings.ContainsAny(d, " /\\") {
			return nil, nil, fmt.Errorf("invalid DNS name %q", d)
		}
		if !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	var addrs []netip.Addr
	for _, s := range ips {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, nil, fmt.Errorf("invalid IP address %q", s)
		}
		if a.Zone() != "" {
			return nil, nil, fmt.Errorf("invalid IP address %q: zones cannot be certified", s)
		}
		addrs = append(addrs, a.Unmap())
	}
	if len(dns) == 0 && len(addrs) == 0 {
		return nil, nil, errors.New("no DNS names or IP addresses to certify")
	}
	return dns, sortAddrs(addrs), nil
}

// normalizeDNS is the order-insensitive form of a certificate's DNS names.
func normalizeDNS(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

func certAddrs(ips []net.IP) []netip.Addr {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return sortAddrs(out)
}

func sortAddrs(addrs []netip.Addr) []netip.Addr {
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(addrs)
}
