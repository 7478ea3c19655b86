package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AuthError says the server refused every key offered. The host was
// reachable: this is not an *transport.UnreachableError.
type AuthError struct {
	Host    string   // inventory name
	Bastion bool     // the bastion refused, on the way to Host
	Address string   // "host:port"
	User    string   // login user
	Tried   []string // what was offered: "key file …", "ssh-agent (2 keys)"
	Err     error
}

func (e *AuthError) Unwrap() error { return e.Err }

func (e *AuthError) Error() string {
	who := e.Host
	if e.Bastion {
		who += ": bastion"
	}
	tried := "nothing"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	return fmt.Sprintf("%s: authentication as %q on %s failed; tried %s: %v", who, e.User, e.Address, tried, e.Err)
}

// credentials are the keys offered during one Dial (both hops). close
// releases the ssh-agent connection, needed only while authenticating.
type credentials struct {
	signers []gossh.Signer
	tried   []string
	close   func()
}

// loadCredentials gathers the key file's signer then the agent's, in that
// order, as one publickey method: x/crypto tries each method name once, so
// two separate publickey methods would not both be tried.
func loadCredentials(cfg Config) (*credentials, error) {
	cr := &credentials{close: func() {}}
	if cfg.PrivateKey != "" {
		pem, err := os.ReadFile(cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("%s: private key: %w", cfg.Host, err)
		}
		signer, err := gossh.ParsePrivateKey(pem)
		var pm *gossh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			if cfg.AgentSocket == "" {
				return nil, fmt.Errorf("%s: private key %s is protected by a passphrase and skiff does not prompt: load it into ssh-agent (ssh-add %s) with SSH_AUTH_SOCK set", cfg.Host, cfg.PrivateKey, cfg.PrivateKey)
			}
			// The agent may hold it; say so if authentication fails.
			cr.tried = append(cr.tried, fmt.Sprintf("key file %s (skipped: passphrase-protected, load it with ssh-add)", cfg.PrivateKey))
		case err != nil:
			return nil, fmt.Errorf("%s: private key %s: %w", cfg.Host, cfg.PrivateKey, err)
		default:
			cr.signers = append(cr.signers, signer)
			cr.tried = append(cr.tried, fmt.Sprintf("key file %s (%s %s)", cfg.PrivateKey, signer.PublicKey().Type(), gossh.FingerprintSHA256(signer.PublicKey())))
		}
	}
	if cfg.AgentSocket != "" {
		conn, err := net.Dial("unix", cfg.AgentSocket)
		if err != nil {
			cr.tried = append(cr.tried, fmt.Sprintf("ssh-agent at %s (unreachable: %v)", cfg.AgentSocket, err))
		} else {
			signers, err := agent.NewClient(conn).Signers()
			if err != nil {
				conn.Close()
				cr.tried = append(cr.tried, fmt.Sprintf("ssh-agent at %s (%v)", cfg.AgentSocket, err))
			} else {
				cr.close = func() { conn.Close() }
				cr.signers = append(cr.signers, signers...)
				cr.tried = append(cr.tried, fmt.Sprintf("ssh-agent (%d keys)", len(signers)))
			}
		}
	}
	if len(cr.signers) == 0 {
		cr.close()
		if cfg.PrivateKey == "" && cfg.AgentSocket == "" {
			return nil, fmt.Errorf("%s: no SSH key: private_key is empty and SSH_AUTH_SOCK is not set", cfg.Host)
		}
		return nil, &AuthError{Host: cfg.Host, Address: cfg.target().addr(), User: cfg.User, Tried: cr.tried, Err: errors.New("no usable key")}
	}
	return cr, nil
}

func (cr *credentials) method() gossh.AuthMethod {
	return gossh.PublicKeys(cr.signers...)
}

// isAuthFailure recognises x/crypto's and sshd's ways of saying no to every
// key; x/crypto has no error type for them.
func isAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") ||
		strings.Contains(s, "Too many authentication failures")
}
