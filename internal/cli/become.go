package cli

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// becomePasswordEnv gives the sudo password when there is no terminal to
// ask on (CI, tests).
const becomePasswordEnv = "SKIFF_BECOME_PASSWORD"

// readBecomePassword prompts on stderr and reads stdin without echo when
// stdin is a terminal; otherwise it takes $SKIFF_BECOME_PASSWORD.
func readBecomePassword(c *console) (string, error) {
	if f, ok := c.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.err, "sudo password (become): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.err)
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
