package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/skiffdeploy/skiff/internal/config"
)

// console is what one invocation of skiff reads and writes, and what it
// knows of the terminal. Main makes it; every command is handed it.
type console struct {
	in       io.Reader
	out, err io.Writer
	inTTY    bool // stdin is a terminal: a command may ask there
	errTTY   bool // stderr is a terminal: progress redraws in place
	// diags keeps the diagnostics printed on err, for the JSON document
	// of a command that fails before printing its own.
	diags *diagLog
}

// newConsole is the console of stdin, stdout and stderr.
func newConsole(stdin io.Reader, stdout, stderr io.Writer) *console {
	return &console{in: stdin, out: stdout, err: stderr,
		inTTY: isTerminal(stdin), errTTY: isTerminal(stderr), diags: &diagLog{}}
}

// diagLog is the diagnostics a command printed so far.
type diagLog struct{ printed []config.Diagnostic }

// printDiags prints diagnostics with their source lines (from l's files)
// and keeps them; true when any is an error.
func (c *console) printDiags(l *config.Loader, diags hcl.Diagnostics) bool {
	if len(diags) > 0 {
		config.WriteDiagnostics(c.err, diags, l.Files())
		c.diags.printed = append(c.diags.printed, config.DiagnosticsJSON(diags)...)
	}
	return diags.HasErrors()
}

// printed is every diagnostic printed so far, never nil.
func (c *console) printed() []config.Diagnostic {
	if c.diags.printed == nil {
		return []config.Diagnostic{}
	}
	return c.diags.printed
}

// warnf tells the operator, on stderr, of what went wrong without failing.
func (c *console) warnf(format string, args ...any) {
	fmt.Fprintf(c.err, "skiff: "+format+"\n", args...)
}

// confirm asks on stderr, with question, and reports whether the answer
// was "yes", the only one accepted.
func (c *console) confirm(question string) bool {
	fmt.Fprint(c.err, question+"Only 'yes' is accepted: ")
	answer, _ := readLine(c.in)
	return answer == "yes"
}

// isTerminal reports whether x is a terminal. /dev/null is a character
// device too, and a run from cron or a systemd timer reads it: only a
// terminal's ioctl answers.
func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readLine reads one answer from r, trimmed, reading no byte past it.
func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if err != nil {
			if len(b) == 0 {
				return "", err
			}
			break
		}
	}
	return strings.TrimSpace(string(b)), nil
}
