package testhosts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteInventory writes an HCL inventory (skiff's inventory format) for the
// cluster's Hosts, not its Clients: defaults that reach them as deploy with
// sudo, the cluster key and known_hosts, then one host block per host.
// groups maps a host name to its groups (hosts missing from it get none);
// naming a host that is not in the cluster is an error. extraHCL (group,
// secret blocks…) is appended as is. Paths in it are absolute, so the file
// works from any directory; skiff keeps its .skiff/ state beside it.
func (c *Cluster) WriteInventory(path string, groups map[string][]string, extraHCL string) error {
	known := map[string]bool{}
	for _, h := range c.Hosts {
		known[h.Name] = true
	}
	for name := range groups {
		if !known[name] {
			return fmt.Errorf("testhosts: inventory groups name host %q, not in cluster %s", name, c.Prefix)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Test hosts of cluster %s, written by integration/testhosts.\n", c.Prefix)
	b.WriteString("defaults {\n")
	b.WriteString("  user        = \"deploy\"\n")
	b.WriteString("  port        = 22\n")
	fmt.Fprintf(&b, "  private_key = %s\n", hclString(c.KeyFile))
	fmt.Fprintf(&b, "  known_hosts = %s\n", hclString(c.KnownHostsFile))
	b.WriteString("  become      = true\n")
	b.WriteString("}\n")
	for _, h := range c.Hosts {
		quoted := make([]string, 0, len(groups[h.Name]))
		for _, g := range groups[h.Name] {
			quoted = append(quoted, hclString(g))
		}
		fmt.Fprintf(&b, "\nhost %s {\n", hclString(h.Name))
		fmt.Fprintf(&b, "  address = %s\n", hclString(h.Address))
		fmt.Fprintf(&b, "  groups  = [%s]\n", strings.Join(quoted, ", "))
		b.WriteString("}\n")
	}
	if extraHCL != "" {
		b.WriteString("\n")
		b.WriteString(extraHCL)
		if !strings.HasSuffix(extraHCL, "\n") {
			b.WriteString("\n")
		}
	}

	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("testhosts: %w", err)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("testhosts: %w", err)
	}
	return nil
}

// hclString quotes s as an HCL string literal that is never a template.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}
