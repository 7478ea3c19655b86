package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/version"
)

// writeVersion prints the running skiff's version, commit and Go version.
func writeVersion(w io.Writer, output string) error {
	v := version.Current()
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
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

func newVersionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print skiff's version, the commit it was built from and its Go version",
		Long: `version prints the running skiff's version (a release's, or devel+COMMIT
for a build from a checkout), the commit it was built from and the Go
version that built it; skiff --version prints the same. Journals of runs
and saved plans record the version that wrote them: skiff runs lists it,
and apply refuses a plan saved by another version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			return writeVersion(g.stdout, g.output)
		},
	}
	cmd.Flags().StringVarP(&g.output, "output", "o", "text", "output format: text or json (one JSON document on stdout)")
	return cmd
}
