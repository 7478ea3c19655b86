package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// becomePasswordEnv gives the sudo password when there is no terminal to
// ask on (CI, tests).
const becomePasswordEnv = "SKIFF_BECOME_PASSWORD"

// askBecomePassword wraps cmd's PreRunE: with --ask-become-pass, the sudo
// password is read once, before any host is reached.
func askBecomePassword(cmd *cobra.Command, g *globals) {
	next := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if g.askBecomePass {
			pw, err := g.readBecomePassword()
			if err != nil {
				return err
			}
			g.becomePass = pw
		}
		if next != nil {
			return next(cmd, args)
		}
		return nil
	}
}

// readBecomePassword prompts on stderr and reads stdin without echo when
// stdin is a terminal; otherwise it takes $SKIFF_BECOME_PASSWORD.
func (g *globals) readBecomePassword() (string, error) {
	if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(g.stderr, "sudo password (become): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", fmt.Errorf("--ask-become-pass: reading the password: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("--ask-become-pass: empty password")
		}
		return string(b), nil
	}
	pw := os.Getenv(becomePasswordEnv)
	if pw == "" {
		return "", fmt.Errorf("--ask-become-pass: no terminal to ask the sudo password on, and %s is not set", becomePasswordEnv)
	}
	return pw, nil
}
