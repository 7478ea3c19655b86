// Package acme is the "acme_certificate" task kind: a certificate for a
// domain from an ACME server (Let's Encrypt, or any other), obtained and
// renewed from the operator's machine and installed on the task's host.
//
//	task "acme_certificate" "site" {
//	  domain            = "www.foobar.com"
//	  directory_url     = "https://acme-v02.api.letsencrypt.org/directory"
//	  email             = "ops@foobar.com"   # optional: the account's contact
//	  directory_ca_file = ""                 # optional: a CA for the directory's own TLS
//	  alt_names         = ["foobar.com"]     # optional: more names on the same certificate
//	  renew_before      = "30d"              # the default
//	  challenge_hosts   = ["web1", "web2"]   # whose HAProxy answers HTTP-01
//	  cert_path         = "/etc/nginx/tls/site.crt"
//	  key_path          = "/etc/nginx/tls/site.key"
//	}
//
// Check reads the certificate kept beside the inventory (.skiff/acme, see
// state.go) and the digests of the host's two files: it reports "obtain
// certificate for DOMAIN from DIRECTORY (one order for every host that
// installs it)" when none is kept (or it came from another directory, or
// does not carry exactly the names asked for), "renew certificate for
// DOMAIN (expires in N days)" when less than renew_before is left, "install
// certificate for DOMAIN …" when the host's files differ, else nothing. It
// never contacts the ACME server: a fresh certificate costs no request.
//
// Apply obtains (or renews) the certificate with the HTTP-01 challenge,
// once per run for all the hosts that install it, then writes both files
// on the host (the key 0600, root's). The challenge is answered by HAProxy
// on each of challenge_hosts, from the map ChallengeMap that its :80
// frontend reads, through the runtime API: a token is added just before
// the server is told to validate and deleted afterwards, with no reload
// and no port opened. A failed issuance changes nothing here or on any
// host, and its error quotes the server's problem document.
package acme

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

// ChallengeMap is the HAProxy map the :80 frontend answers
// /.well-known/acme-challenge/TOKEN from; HAProxySocket is its runtime API.
const (
	ChallengeMap  = "/etc/haproxy/acme-challenge.map"
	HAProxySocket = "/run/haproxy/admin.sock"
)

// DefaultRenewBefore is when a certificate is renewed: this long before
// it expires.
const DefaultRenewBefore = 30 * 24 * time.Hour

// Cert is one acme_certificate task.
type Cert struct {
	dir            string // the local state folder
	domain         string
	altNames       []string // more names on the certificate, after domain
	directory      string
	email          string
	caFile         string
	renewBefore    time.Duration
	challengeHosts []string
	certPath       string
	keyPath        string
	now            func() time.Time

	need need // learned by Check
}

type need int

const (
	needNothing need = iota
	needInstall
	needIssue
)

// Factory returns the kind's factory, keeping certificates in dir.
func Factory(dir string) module.Factory {
	return func(a *module.Args) module.Module { return newCert(dir, a) }
}

var domainName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

func newCert(dir string, a *module.Args) *Cert {
	c := &Cert{
		dir:            dir,
		domain:         a.String("domain", true),
		directory:      a.String("directory_url", true),
		email:          a.StringDefault("email", ""),
		caFile:         a.StringDefault("directory_ca_file", ""),
		altNames:       a.StringList("alt_names"),
		challengeHosts: a.StringList("challenge_hosts"),
		certPath:       filestate.PathArg(a, "cert_path"),
		keyPath:        filestate.PathArg(a, "key_path"),
		now:            time.Now,
	}
	a.RejectSensitive("domain", "alt_names", "directory_url", "email", "directory_ca_file")
	if c.domain != "" && !domainName.MatchString(c.domain) {
		a.Errorf("domain", "domain %q is not a DNS name, such as \"www.foobar.com\".", c.domain)
	}
	seen := map[string]bool{strings.ToLower(c.domain): true}
	for _, n := range c.altNames {
		switch {
		case !domainName.MatchString(n):
			a.Errorf("alt_names", "alt_names: %q is not a DNS name, such as \"foobar.com\".", n)
		case seen[strings.ToLower(n)]:
			a.Errorf("alt_names", "alt_names: %q is named twice (domain is always on the certificate).", n)
		}
		seen[strings.ToLower(n)] = true
	}
	if c.directory != "" && !strings.HasPrefix(c.directory, "https://") {
		a.Errorf("directory_url", "directory_url must be an https:// URL, such as \"https://acme-staging-v02.api.letsencrypt.org/directory\".")
	}
	if !a.Has("challenge_hosts") {
		a.Errorf("challenge_hosts", "challenge_hosts is required: the hosts whose HAProxy answers the HTTP-01 challenge (the load balancers).")
	}
	c.renewBefore = DefaultRenewBefore
	if a.Has("renew_before") && !a.Unknown("renew_before") {
		d, err := ParseDays(a.String("renew_before", false))
		if err != nil {
			a.Errorf("renew_before", "renew_before: %s.", err)
		}
		c.renewBefore = d
	}
	if c.caFile != "" && !a.Unknown("directory_ca_file") {
		if _, err := a.ReadLocal(c.caFile); err != nil {
			a.Errorf("directory_ca_file", "directory_ca_file: %s.", err)
		}
	}
	return c
}

// ParseDays reads a duration written as whole days ("30d") or as Go
// writes one ("720h").
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a number of days such as \"30d\"", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as \"30d\" or \"720h\"", s)
	}
	return d, nil
}

// Probe prints the sha256 of the certificate and of the key on the host,
// each on its line ("none" when not a regular file).
func (c *Cert) Probe() string {
	var b strings.Builder
	for _, p := range []string{c.certPath, c.keyPath} {
		fmt.Fprintf(&b, "if [ -f %[1]s ] && [ ! -L %[1]s ]; then sha256sum < %[1]s | cut -c1-64; else echo none; fi\n", shell.Quote(p))
	}
	return b.String()
}

// Check decides from the local state and the host's digests; it sends
// nothing anywhere.
func (c *Cert) Check(p module.Probed) (*module.Change, error) {
	local, err := ReadLocal(c.dir, c.domain)
	if err != nil {
		return nil, err
	}
	c.need = needNothing
	if why := c.issueReason(local); why != "" {
		c.need = needIssue
		return &module.Change{Action: plan.Create, Summary: why, Sensitive: true}, nil
	}
	lines := strings.Fields(string(p.Stdout))
	if len(lines) != 2 {
		return nil, fmt.Errorf("%s: unexpected probe output %q", c.certPath, shell.Last(string(p.Stdout), 200))
	}
	if lines[0] == sha(local.Cert) && lines[1] == sha(local.Key) {
		return nil, nil
	}
	c.need = needInstall
	return &module.Change{Action: plan.Update, Summary: fmt.Sprintf("install certificate for %s (%s)", c.domain, c.expiry(local)), Sensitive: true}, nil
}

// issueReason says why a new certificate is needed, "" when local serves.
// A certificate this process obtained serves: the other hosts of the run
// install it, even when renew_before is longer than the CA's certificates
// last (each would otherwise ask for its own).
func (c *Cert) issueReason(local *Local) string {
	if local.Present() && issuedHere(c.dir, c.domain, local.Cert) {
		return ""
	}
	switch {
	case !local.Present() || local.Directory != c.directory || !local.namesExactly(c.names()):
		return fmt.Sprintf("obtain certificate for %s from %s (one order for every host that installs it)", strings.Join(c.names(), ", "), c.directory)
	case local.NotAfter.Sub(c.now()) < c.renewBefore:
		return fmt.Sprintf("renew certificate for %s (%s)", c.domain, c.expiry(local))
	}
	return ""
}

// names are the names the certificate must carry: domain first.
func (c *Cert) names() []string { return append([]string{c.domain}, c.altNames...) }

func (c *Cert) expiry(local *Local) string {
	left := local.NotAfter.Sub(c.now())
	if left < 0 {
		return fmt.Sprintf("expired %d days ago", int(-left.Hours()/24))
	}
	return fmt.Sprintf("expires in %d days", int(left.Hours()/24))
}

// Apply obtains the certificate when Check found it needed (unless
// another host's task of this run just did), then installs it.
func (c *Cert) Apply(ctx context.Context, t transport.Transport) error {
	local, err := c.ensure(ctx)
	if err != nil {
		return err
	}
	for _, f := range []filestate.Spec{
		{Path: c.keyPath, Content: local.Key, Known: true, Sensitive: true, Source: "the ACME certificate's key", Meta: filestate.Meta{Owner: "root", Mode: 0o600, HasMode: true}},
		{Path: c.certPath, Content: local.Cert, Known: true, Source: "the ACME certificate", Meta: filestate.Meta{Owner: "root", Mode: 0o644, HasMode: true}},
	} {
		if err := install(ctx, t, f); err != nil {
			return err
		}
	}
	return nil
}

// install writes one file as the file kind does (see filestate).
func install(ctx context.Context, t transport.Transport, s filestate.Spec) error {
	f := filestate.New(s)
	res, err := t.Run(ctx, f.Probe())
	if err != nil {
		return err
	}
	if _, err := f.Check(module.Probed{Stdout: res.Stdout, ExitCode: res.ExitCode}); err != nil {
		return err
	}
	return f.Apply(ctx, t)
}

// ensure returns a certificate that serves, issuing one when needed:
// under a lock per state folder and domain, so that the hosts of one run
// share one issuance.
func (c *Cert) ensure(ctx context.Context) (*Local, error) {
	unlock := lockDomain(c.dir, c.domain)
	defer unlock()
	local, err := ReadLocal(c.dir, c.domain)
	if err != nil {
		return nil, err
	}
	if c.issueReason(local) == "" {
		return local, nil
	}
	if len(c.challengeHosts) == 0 {
		return nil, fmt.Errorf("obtain certificate for %s: challenge_hosts names no host to answer the ACME server (no lb host?)", c.domain)
	}
	conns := module.HostConnsFrom(ctx)
	if conns == nil {
		return nil, fmt.Errorf("obtain certificate for %s: no connection to the challenge hosts", c.domain)
	}
	cert, key, err := c.issue(ctx, conns)
	if err != nil {
		return nil, fmt.Errorf("obtain certificate for %s from %s: %w (the certificate served so far is unchanged)", c.domain, c.directory, err)
	}
	if err := writeLocal(c.dir, c.domain, c.directory, cert, key); err != nil {
		return nil, fmt.Errorf("keep the certificate for %s: %w", c.domain, err)
	}
	markIssued(c.dir, c.domain, cert)
	return ReadLocal(c.dir, c.domain)
}
