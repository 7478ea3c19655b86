package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/suggest"
	"github.com/skiffdeploy/skiff/internal/ui"
)

func newInventoryCmd(g *globals) *cobra.Command {
	var hostName string
	cmd := &cobra.Command{
		Use:   "inventory -i INVENTORY [--limit SEL | --host NAME]",
		Short: "List hosts, their addresses, users and groups; or one host's variables",
		Long: `inventory lists the selected hosts: name, address, user, port and groups.

With --host NAME it shows that host's connection settings and its merged
inventory variables, each with the level that set it (defaults, a group,
the host) and where: the value a role sees unless a play's vars or -e set
it. Values marked sensitive() show as (sensitive). Reaches no host.`,
		Example: `  skiff inventory -i inventory.hcl --limit web
  skiff inventory -i inventory.hcl --host web1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			l := config.NewLoader()
			ld, err := g.loadInventory(l)
			if err != nil {
				return err
			}
			if hostName != "" {
				h := ld.inv.Host(hostName)
				if h == nil {
					names := make([]string, len(ld.inv.Hosts))
					for i, x := range ld.inv.Hosts {
						names[i] = x.Name
					}
					return fmt.Errorf("--host: %q is no host of %s.%s", hostName, g.inventory, suggest.DidYouMean(hostName, names))
				}
				return g.showHost(l, h)
			}
			hosts := ld.limit
			if hosts == nil {
				hosts = ld.inv.Hosts
			}
			if g.output == "json" {
				doc := struct {
					Hosts  []jsonHost          `json:"hosts"`
					Groups map[string][]string `json:"groups"`
				}{Groups: map[string][]string{}}
				for _, h := range hosts {
					doc.Hosts = append(doc.Hosts, hostJSON(h))
					for _, gr := range h.Groups {
						doc.Groups[gr] = append(doc.Groups[gr], h.Name)
					}
				}
				return ui.WriteJSON(g.stdout, doc)
			}
			fmt.Fprintf(g.stdout, "%-16s %-18s %-10s %-5s %s\n", "HOST", "ADDRESS", "USER", "PORT", "GROUPS")
			for _, h := range hosts {
				fmt.Fprintf(g.stdout, "%-16s %-18s %-10s %-5d %s\n", h.Name, h.Address, h.Conn.User, h.Conn.Port, strings.Join(h.Groups, ","))
			}
			return nil
		},
	}
	addCommon(cmd, g, false)
	cmd.Flags().StringVar(&hostName, "host", "", "show one host's settings and variables, with where each variable is set")
	_ = cmd.RegisterFlagCompletionFunc("host", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, c := range limitCandidates(g.inventory, "") {
			if !strings.HasPrefix(c, "!") {
				names = append(names, c)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// jsonHost is a host in inventory's JSON output.
type jsonHost struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	User    string   `json:"user"`
	Port    int      `json:"port"`
	Become  bool     `json:"become"`
	Bastion string   `json:"bastion,omitempty"`
	Groups  []string `json:"groups"`
}

func hostJSON(h *inventory.Host) jsonHost {
	return jsonHost{h.Name, h.Address, h.Conn.User, h.Conn.Port, h.Conn.Become, h.Conn.Bastion, h.Groups}
}

// jsonVar is one variable of inventory --host's JSON output.
type jsonVar struct {
	Value     json.RawMessage `json:"value"`
	Sensitive bool            `json:"sensitive,omitempty"`
	Level     string          `json:"level"` // "defaults", "group web", "host web1"
	From      string          `json:"from"`  // file:line:col
}

// showHost prints one host's settings and variables with their origins.
func (g *globals) showHost(l *config.Loader, h *inventory.Host) error {
	names := make([]string, 0, len(h.Vars))
	for k := range h.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	vars := map[string]jsonVar{}
	for _, k := range names {
		v := h.Vars[k]
		o := h.VarFrom[k]
		jv := jsonVar{Level: o.Level, From: l.Where(o.Range), Value: json.RawMessage(`"(sensitive)"`)}
		if secret.Is(v) {
			jv.Sensitive = true
		} else if b, err := ctyjson.Marshal(v, v.Type()); err == nil {
			jv.Value = b
		} else {
			jv.Value = json.RawMessage(fmt.Sprintf("%q", v.GoString()))
		}
		vars[k] = jv
	}
	if g.output == "json" {
		return ui.WriteJSON(g.stdout, struct {
			Host jsonHost           `json:"host"`
			Vars map[string]jsonVar `json:"vars"`
		}{hostJSON(h), vars})
	}
	c := h.Conn
	fmt.Fprintf(g.stdout, "host     %s\naddress  %s\nuser     %s\nport     %d\nbecome   %t\ngroups   %s\n", h.Name, h.Address, c.User, c.Port, c.Become, strings.Join(h.Groups, ", "))
	if c.Bastion != "" {
		fmt.Fprintf(g.stdout, "bastion  %s\n", c.Bastion)
	}
	if len(names) == 0 {
		fmt.Fprintln(g.stdout, "\nno inventory variables")
		return nil
	}
	fmt.Fprintln(g.stdout, "\nvariables (the last level that sets one wins: defaults, groups in file order, the host):")
	width := 0
	for _, k := range names {
		width = max(width, len(k)+3+len(vars[k].Value))
	}
	for _, k := range names {
		v := vars[k]
		fmt.Fprintf(g.stdout, "  %-*s  # %s, %s\n", width, k+" = "+string(v.Value), v.Level, v.From)
	}
	return nil
}
