package shell

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

// A script that exits non-zero is a *RunError that names the task, quotes
// the output and keeps the secrets out; one that succeeds is no error.
func TestRunTurnsAFailedScriptIntoARunError(t *testing.T) {
	ctx := context.Background()
	if err := Run(ctx, &transporttest.Local{}, "touch", "true", nil); err != nil {
		t.Fatalf("a script that succeeds: %v", err)
	}
	err := Run(ctx, &transporttest.Local{}, "set the password", "echo 'bad hunter2' >&2; exit 4", []string{"hunter2"})
	var re *RunError
	if !errors.As(err, &re) || re.ExitCode != 4 || re.What != "set the password" {
		t.Fatalf("err = %#v, want a RunError with exit 4", err)
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "bad") {
		t.Errorf("message %q: want the output, without the secret", err)
	}
	res, err := Output(ctx, &transporttest.Local{}, "read", "echo out; exit 2", nil)
	if !errors.As(err, &re) || string(res.Stdout) != "out\n" {
		t.Errorf("Output: %q, %v", res.Stdout, err)
	}
}
