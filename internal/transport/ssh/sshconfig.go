package ssh

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
)

// SSHConfig is the part of an OpenSSH client config (ssh_config(5)) that
// skiff honours: Host blocks with HostName, User, Port, IdentityFile and
// ProxyJump. Match blocks are skipped; Include is ignored (not followed).
type SSHConfig struct {
	blocks []sshConfigBlock
}

type sshConfigBlock struct {
	patterns []string // "*" for the lines before the first Host
	opts     [][2]string
}

// SSHHostConfig is what an SSHConfig says about one host; "" and 0 are unset.
type SSHHostConfig struct {
	HostName     string
	User         string
	Port         int
	IdentityFile string
	ProxyJump    string // "" or "none" means direct
}

// LoadSSHConfig reads an ssh_config file; a missing file is an empty config.
func LoadSSHConfig(file string) (*SSHConfig, error) {
	p, err := expandHome(file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return &SSHConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := ParseSSHConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// ParseSSHConfig parses ssh_config text.
func ParseSSHConfig(r io.Reader) (*SSHConfig, error) {
	c := &SSHConfig{blocks: []sshConfigBlock{{patterns: []string{"*"}}}}
	cur := &c.blocks[0]
	skipping := false // inside a Match block
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val := splitOption(line)
		if val == "" {
			return nil, fmt.Errorf("line %d: %q has no value", n, key)
		}
		switch strings.ToLower(key) {
		case "host":
			c.blocks = append(c.blocks, sshConfigBlock{patterns: strings.Fields(val)})
			cur, skipping = &c.blocks[len(c.blocks)-1], false
		case "match":
			skipping = true // not supported: its options apply to no host
		case "include":
			// Not followed: skiff reads one file.
		default:
			if !skipping {
				cur.opts = append(cur.opts, [2]string{strings.ToLower(key), unquote(val)})
			}
		}
	}
	return c, sc.Err()
}

// splitOption splits "Key value", "Key=value" or "Key = value".
func splitOption(line string) (key, val string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	return key, strings.TrimSpace(rest)
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Lookup returns the options for a host known by any of names (the
// inventory address, the host name): as in OpenSSH, the first value seen
// for an option, in file order, wins.
func (c *SSHConfig) Lookup(names ...string) (SSHHostConfig, error) {
	var h SSHHostConfig
	seen := map[string]bool{}
	for _, b := range c.blocks {
		if !blockMatches(b.patterns, names) {
			continue
		}
		for _, kv := range b.opts {
			k, v := kv[0], kv[1]
			if seen[k] {
				continue
			}
			switch k {
			case "hostname":
				h.HostName = v
			case "user":
				h.User = v
			case "port":
				p, err := strconv.Atoi(v)
				if err != nil || p <= 0 || p > 65535 {
					return h, fmt.Errorf("ssh_config: invalid Port %q", v)
				}
				h.Port = p
			case "identityfile":
				h.IdentityFile = v
			case "proxyjump":
				h.ProxyJump = v
			default:
				continue
			}
			seen[k] = true
		}
	}
	if h.ProxyJump == "none" {
		h.ProxyJump = ""
	}
	if strings.Contains(h.ProxyJump, ",") {
		return h, fmt.Errorf("ssh_config: ProxyJump %q: skiff supports one jump host", h.ProxyJump)
	}
	if len(names) > 0 {
		h.HostName = strings.ReplaceAll(strings.ReplaceAll(h.HostName, "%h", names[0]), "%%", "%")
	}
	return h, nil
}

// blockMatches applies a Host line: some pattern matches one of names and
// no negated pattern ("!pat") does.
func blockMatches(patterns, names []string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		for _, n := range names {
			if n == "" || !globMatch(p, n) {
				continue
			}
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

// globMatch is ssh_config's pattern: * and ? only, case-insensitive.
func globMatch(pattern, name string) bool {
	// path.Match also knows [ and \: escape them to keep them literal.
	r := strings.NewReplacer(`\`, `\\`, `[`, `\[`)
	ok, err := path.Match(strings.ToLower(r.Replace(pattern)), strings.ToLower(name))
	return err == nil && ok
}
