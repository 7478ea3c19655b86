package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/jsondoc"
	"github.com/skiffdeploy/skiff/internal/version"
)

// writeVersion prints the running skiff's version, commit and Go version.
func writeVersion(w io.Writer, out output) error {
	v := version.Current()
	if out.json() {
		return jsondoc.WriteJSON(w, v)
	}
	commit := v.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case v.Modified:
		commit += " (with uncommitted changes)"
	}
	_, err := fmt.Fprintf(w, "skiff %s\ncommit %s\n%s %s\n", v.Version, commit, v.Go, v.Platform)
	return err
}

// versionOptions are skiff version's.
type versionOptions struct{ output output }

func (o *versionOptions) finish([]string) error { return o.output.check() }

func parseVersion(args []string) (versionOptions, error) { return parseWith(defineVersion, args) }

func defineVersion(o *versionOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print skiff's version, the commit it was built from and its Go version",
		Long: `version prints the running skiff's version (a release's, or devel+COMMIT
for a build from a checkout), the commit it was built from and the Go
version that built it; skiff --version prints the same. Journals of runs
and saved plans record the version that wrote them: skiff runs lists it,
and apply refuses a plan saved by another version.`,
		Args: cobra.NoArgs,
	}
	addOutput(cmd.Flags(), &o.output)
	return cmd
}

func newVersionCmd(c *console) *cobra.Command {
	return command(defineVersion, func(_ context.Context, o versionOptions) error {
		return writeVersion(c.out, o.output)
	})
}
