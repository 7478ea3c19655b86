package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
)

// completeCommon teaches shell completion the common flags: HCL files for
// -i, --var-file and the playbook argument, and for --limit the hosts and
// groups of the inventory already given with -i.
func completeCommon(cmd *cobra.Command, g *globals, withPlaybook bool) {
	hclFiles := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"hcl"}, cobra.ShellCompDirectiveFilterFileExt
	}
	_ = cmd.RegisterFlagCompletionFunc("inventory", hclFiles)
	_ = cmd.RegisterFlagCompletionFunc("limit", func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
		return limitCandidates(g.inventory, typed), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	if withPlaybook {
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
