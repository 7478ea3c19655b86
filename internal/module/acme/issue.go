package acme

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/registration"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/haproxy"
	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// lego, the ACME client: it speaks RFC 8555 (accounts, orders, HTTP-01,
// finalisation, the problem documents) as Let's Encrypt and other CAs
// implement it, and lets skiff place the challenge's token itself. Its own
// log would print to stdout: skiff reports through its errors instead.
func init() { legolog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) }

var domainLocks sync.Map // dir + "\x00" + domain -> *sync.Mutex

// lockDomain serialises the issuance for one domain within this process.
func lockDomain(dir, domain string) (unlock func()) {
	m, _ := domainLocks.LoadOrStore(dir+"\x00"+domain, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

var issued sync.Map // dir + "\x00" + domain -> sha256 of the certificate this process obtained

func markIssued(dir, domain string, cert []byte) { issued.Store(dir+"\x00"+domain, sha(cert)) }

// issuedHere reports whether cert is the one this process obtained.
func issuedHere(dir, domain string, cert []byte) bool {
	v, ok := issued.Load(dir + "\x00" + domain)
	return ok && v.(string) == sha(cert)
}

type user struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (u *user) GetEmail() string                       { return u.email }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

// issue runs one ACME order for the domain and returns the certificate
// (with its chain) and its key, PEM-encoded.
func (c *Cert) issue(ctx context.Context, conns module.HostConns) (cert, key []byte, err error) {
	k, err := accountKey(c.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("account key: %w", err)
	}
	u := &user{email: c.email, key: k}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = c.directory
	cfg.UserAgent = "skiff"
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("directory_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("directory_ca_file %s: no PEM certificate", c.caFile)
		}
		cfg.HTTPClient = &http.Client{
			Timeout:   2 * time.Minute,
			Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: pool}},
		}
	}
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, nil, problem(err)
	}
	if err := client.Challenge.SetHTTP01Provider(&tokens{conns: conns, hosts: c.challengeHosts}); err != nil {
		return nil, nil, err
	}
	reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return nil, nil, fmt.Errorf("account: %w", problem(err))
	}
	u.reg = reg
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains: c.names(),
		Bundle:  true,
		KeyType: certcrypto.EC256,
	})
	if err != nil {
		return nil, nil, problem(err)
	}
	return res.Certificate, res.PrivateKey, nil
}

// problem rewrites an ACME problem document as skiff reports it: its
// type and detail (and subproblems'), without lego's decorations.
func problem(err error) error {
	var p *acme.ProblemDetails
	if !errors.As(err, &p) {
		return err
	}
	msg := fmt.Sprintf("the ACME server refused (%s, HTTP %d): %s", p.Type, p.HTTPStatus, p.Detail)
	for _, s := range p.SubProblems {
		msg += fmt.Sprintf("; %s: %s", s.Type, s.Detail)
	}
	return errors.New(msg)
}

// tokens answers HTTP-01 through HAProxy's challenge map on every
// challenge host (see the package comment).
type tokens struct {
	conns module.HostConns
	hosts []string
}

// A token and its key authorisation are base64url (and one '.'): nothing
// else is ever sent to a runtime API.
var tokenChars = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (p *tokens) Present(ctx context.Context, domain, token, keyAuth string) error {
	if !tokenChars.MatchString(token) || !tokenChars.MatchString(keyAuth) {
		return fmt.Errorf("the ACME server sent a token skiff will not place: %q", token)
	}
	return p.each(ctx, "place the HTTP-01 token", "add map "+ChallengeMap+" "+token+" "+keyAuth)
}

func (p *tokens) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	if !tokenChars.MatchString(token) {
		return nil
	}
	return p.each(ctx, "remove the HTTP-01 token", "del map "+ChallengeMap+" "+token)
}

func (p *tokens) each(ctx context.Context, what, command string) error {
	var errs []error
	for _, h := range p.hosts {
		t, err := p.conns(ctx, h)
		if err == nil {
			err = shell.Run(ctx, t, what+" on "+h, haproxy.RuntimeScript(HAProxySocket, command), nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (HAProxy must run there, configured by the haproxy role with ACME, before the certificate is asked for)", h, err))
		}
	}
	return errors.Join(errs...)
}
