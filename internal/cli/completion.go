package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
)

// completeHostFlags teaches shell completion the flags of the commands
// that reach hosts: HCL files for -i, and for --limit the hosts and groups
// of the inventory already given with -i (read from *inventory when
// completing).
func completeHostFlags(cmd *cobra.Command, inventory *string) {
	_ = cmd.RegisterFlagCompletionFunc("inventory", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"hcl"}, cobra.ShellCompDirectiveFilterFileExt
	})
	_ = cmd.RegisterFlagCompletionFunc("limit", func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
		return limitCandidates(*inventory, typed), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// completePlaybookFlags teaches shell completion HCL (or JSON) files for
// --var-file and the playbook argument.
func completePlaybookFlags(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("var-file", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"hcl", "json"}, cobra.ShellCompDirectiveFilterFileExt
	})
	cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return []string{"hcl"}, cobra.ShellCompDirectiveFilterFileExt
	}
}

// limitCandidates are the host and group names of the inventory at path,
// each also with "!", after what is already typed before the last comma
// ("web,!db" completes the last term).
func limitCandidates(path, typed string) []string {
	if path == "" {
		return nil
	}
	cfg, diags := config.NewLoader().LoadInventory(path)
	if diags.HasErrors() {
		return nil
	}
	inv := inventory.New(cfg)
	names := inv.GroupNames()
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	prefix := ""
	if i := strings.LastIndex(typed, ","); i >= 0 {
		prefix = typed[:i+1]
	}
	var out []string
	for _, n := range names {
		out = append(out, prefix+n, prefix+"!"+n)
	}
	return out
}
