package ssh

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyStore checks host keys against OpenSSH known_hosts files and, when
// allowed, records new ones. Within a process it serialises the reads and
// appends of each file, so many hosts accepting new keys at once never
// interleave lines, and first contacts with one address (a bastion shared by
// many hosts) record a single key. Create it with NewHostKeyStore; it is safe
// for concurrent use.
//
// A file is parsed once and its hosts' checks share the result for as long
// as the file stays as it was (same inode, size and modification time): a
// run over N hosts that parsed a known_hosts of N lines at each handshake
// would spend time and memory growing as N².
type HostKeyStore struct {
	mu      sync.Mutex
	files   map[string]*sync.RWMutex // by absolute file path
	addrs   map[string]*sync.Mutex   // by file path + address, for first contacts
	parseMu sync.Mutex               // held while parsed is read or a file parsed
	parsed  map[string]parsedFile    // by absolute file path
}

// NewHostKeyStore returns an empty store.
func NewHostKeyStore() *HostKeyStore {
	return &HostKeyStore{
		files:  make(map[string]*sync.RWMutex),
		addrs:  make(map[string]*sync.Mutex),
		parsed: make(map[string]parsedFile),
	}
}

func (s *HostKeyStore) fileLock(path string) *sync.RWMutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.files[path]
	if !ok {
		l = new(sync.RWMutex)
		s.files[path] = l
	}
	return l
}

func (s *HostKeyStore) addrLock(path, address string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := path + "\x00" + address
	l, ok := s.addrs[k]
	if !ok {
		l = new(sync.Mutex)
		s.addrs[k] = l
	}
	return l
}

func readKnownHosts(path string) (gossh.HostKeyCallback, error) {
	knownHostsReads.Add(1)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return knownhosts.New()
	}
	return knownhosts.New(path)
}

// checker returns the host key verifier for one handshake with address
// ("host:port"). When accept is set and address has no recorded key, the
// store holds a per-address lock until release is called (after the
// handshake): a concurrent first contact with the same address then waits,
// and sees the key this one recorded, instead of negotiating another key type
// and finding it "changed".
func (s *HostKeyStore) checker(path, address string, accept bool) (chk *hostKeyCheck, release func(), err error) {
	if path, err = filepath.Abs(path); err != nil {
		return nil, nil, err
	}
	chk = &hostKeyCheck{store: s, path: path, address: address, accept: accept}
	if chk.db, err = s.load(path); err != nil {
		return nil, nil, err
	}
	if !accept || len(chk.known()) > 0 {
		return chk, func() {}, nil
	}
	l := s.addrLock(path, address)
	l.Lock()
	if chk.db, err = s.load(path); err != nil {
		l.Unlock()
		return nil, nil, err
	}
	return chk, l.Unlock, nil
}

// record appends key for address to path, unless another goroutine did so
// meanwhile. It returns the knownhosts error if address is now known with
// another key.
func (s *HostKeyStore) record(path, address string, remote net.Addr, key gossh.PublicKey) error {
	l := s.fileLock(path)
	l.Lock()
	defer l.Unlock()
	db, err := readKnownHosts(path)
	if err != nil {
		return err
	}
	err = db(address, remote, key)
	var ke *knownhosts.KeyError
	if err == nil || !errors.As(err, &ke) || len(ke.Want) > 0 {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(address)}, key) + "\n"
	return appendLine(path, line)
}

// appendLine adds line to path in a single write with O_APPEND, creating the
// file 0600 and its directory 0700 when missing.
func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// A file whose last line lacks its newline would glue ours onto it.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := io.WriteString(f, line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// hostKeyCheck verifies the key of one server during one handshake.
type hostKeyCheck struct {
	store   *HostKeyStore
	path    string
	address string
	accept  bool
	db      gossh.HostKeyCallback

	mu      sync.Mutex
	refusal *HostKeyError // why the key was refused, for the caller of the handshake
}

// probeKey matches no known_hosts line: checking it lists every key recorded
// for an address (knownhosts.KeyError.Want), which the package offers no
// other way to see.
type probeKey struct{}

func (probeKey) Type() string                          { return "skiff-probe" }
func (probeKey) Marshal() []byte                       { return []byte("\x00\x00\x00\x0bskiff-probe") }
func (probeKey) Verify([]byte, *gossh.Signature) error { return errors.New("probe key") }

// known lists the keys recorded for the address.
func (c *hostKeyCheck) known() []knownhosts.KnownKey {
	err := c.db(c.address, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: defaultPort}, probeKey{})
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

// algorithms are the host key algorithms to offer: those of the recorded
// keys, so that a server with several host keys presents the one we know
// (x/crypto's default preference could pick another type, which would then
// look like a changed key). nil (x/crypto's defaults) when none is recorded.
func (c *hostKeyCheck) algorithms() []string {
	var algos []string
	seen := make(map[string]bool)
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, k := range c.known() {
		if t := k.Key.Type(); t == gossh.KeyAlgoRSA {
			// An RSA key is negotiated under its signature algorithms;
			// plain ssh-rsa (SHA-1) is refused by current OpenSSH.
			add(gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		} else {
			add(t)
		}
	}
	return algos
}

// verify is the HostKeyCallback. It never accepts a key silently: a known
// key passes, an unknown one passes only when accept is set and it was
// recorded, anything else is refused with a *HostKeyError.
func (c *hostKeyCheck) verify(address string, remote net.Addr, key gossh.PublicKey) error {
	err := c.db(address, remote, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if c.accept && errors.As(err, &ke) && len(ke.Want) == 0 {
		err = c.store.record(c.path, address, remote, key)
		if err == nil {
			return nil
		}
		var re *knownhosts.RevokedError
		if !errors.As(err, &ke) && !errors.As(err, &re) {
			hk := c.newError(HostKeyUnknown, key, nil)
			hk.Err = fmt.Errorf("recording it in %s: %w", c.path, err)
			return c.refuse(hk)
		}
	}
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return c.refuse(c.newError(HostKeyRevoked, key, []knownhosts.KnownKey{re.Revoked}))
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return c.refuse(c.newError(HostKeyUnknown, key, nil))
	case errors.As(err, &ke):
		return c.refuse(c.newError(HostKeyChanged, key, ke.Want))
	default:
		return err
	}
}

func (c *hostKeyCheck) newError(kind HostKeyKind, key gossh.PublicKey, want []knownhosts.KnownKey) *HostKeyError {
	e := &HostKeyError{
		Address:     c.address,
		KnownHosts:  c.path,
		Kind:        kind,
		KeyType:     key.Type(),
		Fingerprint: gossh.FingerprintSHA256(key),
	}
	for _, w := range want {
		e.Known = append(e.Known, KnownKey{
			Type:        w.Key.Type(),
			Fingerprint: gossh.FingerprintSHA256(w.Key),
			File:        w.Filename,
			Line:        w.Line,
		})
	}
	return e
}

func (c *hostKeyCheck) refuse(e *HostKeyError) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refusal == nil {
		c.refusal = e
	}
	return e
}

// refused returns why the key was refused, or nil.
func (c *hostKeyCheck) refused() *HostKeyError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusal
}

// HostKeyKind says why a host key was refused.
type HostKeyKind int

const (
	HostKeyUnknown HostKeyKind = iota + 1 // no key recorded for the address
	HostKeyChanged                        // keys recorded, none matches: possible man in the middle
	HostKeyRevoked                        // the key is marked @revoked
)

func (k HostKeyKind) String() string {
	switch k {
	case HostKeyUnknown:
		return "unknown"
	case HostKeyChanged:
		return "changed"
	case HostKeyRevoked:
		return "revoked"
	}
	return fmt.Sprintf("HostKeyKind(%d)", int(k))
}

// KnownKey is a key recorded in known_hosts.
type KnownKey struct {
	Type        string // "ssh-ed25519"
	Fingerprint string // "SHA256:…"
	File        string
	Line        int
}

// HostKeyError is a refused host key. The host was reachable: this is not an
// *transport.UnreachableError, and retrying will not help.
type HostKeyError struct {
	Host        string // inventory name
	Bastion     bool   // the key is the bastion's, on the way to Host
	Address     string // "host:port" whose key was checked
	KnownHosts  string // the file checked
	Kind        HostKeyKind
	KeyType     string     // type of the key the server presented
	Fingerprint string     // its SHA256 fingerprint
	Known       []KnownKey // keys recorded for Address (changed, revoked)
	Err         error      // underlying failure, e.g. recording the key; may be nil
}

func (e *HostKeyError) Unwrap() error { return e.Err }

func (e *HostKeyError) Error() string {
	var b strings.Builder
	who := e.Host
	if e.Bastion {
		who += ": bastion"
	}
	host, port, err := net.SplitHostPort(e.Address)
	if err != nil {
		host, port = e.Address, "22"
	}
	switch e.Kind {
	case HostKeyUnknown:
		fmt.Fprintf(&b, "%s: host key of %s is unknown (%s %s): it is not in %s", who, e.Address, e.KeyType, e.Fingerprint, e.KnownHosts)
		if e.Err != nil {
			fmt.Fprintf(&b, ", and %v", e.Err)
			return b.String()
		}
		keyscan := "ssh-keyscan -H " + host
		if port != "22" {
			keyscan = "ssh-keyscan -p " + port + " -H " + host
		}
		fmt.Fprintf(&b, "; check the fingerprint, then rerun skiff with --accept-new-host-keys, or run: %s >> %s", keyscan, e.KnownHosts)
	case HostKeyChanged:
		fmt.Fprintf(&b, "%s: HOST KEY CHANGED for %s, possible man-in-the-middle attack: refusing to connect; the server presented %s %s, %s records ",
			who, e.Address, e.KeyType, e.Fingerprint, e.KnownHosts)
		b.WriteString(knownList(e.Known))
		name := host
		if port != "22" {
			name = "[" + host + "]:" + port
		}
		fmt.Fprintf(&b, "; if the change is expected, remove the old entry (ssh-keygen -R '%s' -f %s) and reconnect; --accept-new-host-keys never replaces a changed key", name, e.KnownHosts)
	case HostKeyRevoked:
		fmt.Fprintf(&b, "%s: host key of %s (%s %s) is revoked in %s", who, e.Address, e.KeyType, e.Fingerprint, knownList(e.Known))
	default:
		fmt.Fprintf(&b, "%s: host key of %s refused", who, e.Address)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func knownList(keys []KnownKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s (%s:%d)", k.Type, k.Fingerprint, k.File, k.Line)
	}
	return strings.Join(parts, ", ")
}
