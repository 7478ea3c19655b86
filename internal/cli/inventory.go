package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/skiffdeploy/skiff/internal/config"
	"github.com/skiffdeploy/skiff/internal/inventory"
	"github.com/skiffdeploy/skiff/internal/jsondoc"
	"github.com/skiffdeploy/skiff/internal/secret"
	"github.com/skiffdeploy/skiff/internal/suggest"
)

// inventoryOptions are skiff inventory's.
type inventoryOptions struct {
	hostOptions
	host string // "": list the selected hosts
}

func (o *inventoryOptions) finish([]string) error { return o.check() }

func parseInventory(args []string) (inventoryOptions, error) { return parseWith(defineInventory, args) }

func defineInventory(o *inventoryOptions) *cobra.Command {
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
	}
	addHostFlags(cmd, &o.hostOptions)
	cmd.Flags().StringVar(&o.host, "host", "", "show one host's settings and variables, with where each variable is set")
	_ = cmd.RegisterFlagCompletionFunc("host", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, c := range limitCandidates(o.inventory, "") {
			if !strings.HasPrefix(c, "!") {
				names = append(names, c)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func newInventoryCmd(c *console) *cobra.Command {
	return command(defineInventory, func(_ context.Context, o inventoryOptions) error {
		if _, err := newReach(c, o.conn, nil); err != nil { // -K: as validate
			return err
		}
		l := config.NewLoader()
		ld, err := loadInventory(c, l, o.inventory, o.limit)
		if err != nil {
			return err
		}
		if o.host == "" {
			return writeHosts(c.out, o.output, ld.hosts())
		}
		h := ld.inv.Host(o.host)
		if h == nil {
			names := make([]string, len(ld.inv.Hosts))
			for i, x := range ld.inv.Hosts {
				names[i] = x.Name
			}
			return fmt.Errorf("--host: %q is no host of %s.%s", o.host, o.inventory, suggest.DidYouMean(o.host, names))
		}
		return showHost(c.out, o.output, l, h)
	})
}

// writeHosts lists hosts: a table, or their JSON document.
func writeHosts(w io.Writer, out output, hosts []*inventory.Host) error {
	if out.json() {
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
		return jsondoc.WriteJSON(w, doc)
	}
	fmt.Fprintf(w, "%-16s %-18s %-10s %-5s %s\n", "HOST", "ADDRESS", "USER", "PORT", "GROUPS")
	for _, h := range hosts {
		fmt.Fprintf(w, "%-16s %-18s %-10s %-5d %s\n", h.Name, h.Address, h.Conn.User, h.Conn.Port, strings.Join(h.Groups, ","))
	}
	return nil
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

// showHost prints one host's settings and variables with their origins
// (l read them).
func showHost(w io.Writer, out output, l *config.Loader, h *inventory.Host) error {
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
	if out.json() {
		return jsondoc.WriteJSON(w, struct {
			Host jsonHost           `json:"host"`
			Vars map[string]jsonVar `json:"vars"`
		}{hostJSON(h), vars})
	}
	c := h.Conn
	fmt.Fprintf(w, "host     %s\naddress  %s\nuser     %s\nport     %d\nbecome   %t\ngroups   %s\n", h.Name, h.Address, c.User, c.Port, c.Become, strings.Join(h.Groups, ", "))
	if c.Bastion != "" {
		fmt.Fprintf(w, "bastion  %s\n", c.Bastion)
	}
	if len(names) == 0 {
		fmt.Fprintln(w, "\nno inventory variables")
		return nil
	}
	fmt.Fprintln(w, "\nvariables (the last level that sets one wins: defaults, groups in file order, the host):")
	width := 0
	for _, k := range names {
		width = max(width, len(k)+3+len(vars[k].Value))
	}
	for _, k := range names {
		v := vars[k]
		fmt.Fprintf(w, "  %-*s  # %s, %s\n", width, k+" = "+string(v.Value), v.Level, v.From)
	}
	return nil
}
