package ufw

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
)

// NativeFirewall is the helper's kind for the ufw probe: the files it
// reads with sed and grep are read in process, and whether ufw's chains
// are loaded is asked of nf_tables over netlink where iptables is the
// nf_tables one (nft_linux.go); elsewhere iptables runs.
const NativeFirewall = "ufw"

// Natives are the ufw kind's native answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeFirewall: AnswerFirewalls}

// firewallQuery is Probe's question to the helper.
type firewallQuery struct {
	Root string `json:"root,omitempty"`
}

// NativeProbe implements module.NativeProber.
func (u *UFW) NativeProbe() (string, any, bool) {
	return NativeFirewall, firewallQuery{Root: u.root}, true
}

var (
	sshdPort   = regexp.MustCompile(`^[\t\n\v\f\r ]*[Pp][Oo][Rr][Tt][\t\n\v\f\r ]+([0-9]{1,5})`)
	enabledRE  = regexp.MustCompile(`^[\t\n\v\f\r ]*ENABLED=`)
	defaultRes = []struct {
		re   *regexp.Regexp
		name string
	}{
		{regexp.MustCompile(`^[\t\n\v\f\r ]*DEFAULT_INPUT_POLICY=`), "input="},
		{regexp.MustCompile(`^[\t\n\v\f\r ]*DEFAULT_OUTPUT_POLICY=`), "output="},
		{regexp.MustCompile(`^[\t\n\v\f\r ]*IPV6=`), "ipv6="},
	}
)

// errUnsure: a file the tools could read differently (no final newline,
// NUL bytes): the fragment runs instead.
var errUnsure = errors.New("unsure")

// textLines is a file's lines without their newlines; nil for a missing
// or unreadable file (sed and grep then print nothing).
func textLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	if len(data) == 0 {
		return nil, nil
	}
	if data[len(data)-1] != '\n' || bytes.IndexByte(data, 0) >= 0 {
		return nil, errUnsure
	}
	return strings.Split(string(data[:len(data)-1]), "\n"), nil
}

// AnswerFirewalls is the helper's answerer for NativeFirewall.
func AnswerFirewalls(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	for i, raw := range queries {
		var q firewallQuery
		if json.Unmarshal(raw, &q) != nil {
			continue
		}
		if b, err := answerFirewall(q.Root); err == nil {
			out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: b}, OK: true}
		}
	}
	return out
}

func answerFirewall(root string) ([]byte, error) {
	var b bytes.Buffer
	// sed over sshd_config, then the drop-ins in glob order (a glob that
	// matches nothing names a missing file: nothing printed).
	files := []string{root + "/etc/ssh/sshd_config"}
	dropins, _ := filepath.Glob(root + "/etc/ssh/sshd_config.d/*.conf")
	sort.Strings(dropins)
	for _, d := range dropins {
		if !strings.HasPrefix(filepath.Base(d), ".") { // sh's * skips them
			files = append(files, d)
		}
	}
	b.WriteString("sshd_ports=")
	for _, f := range files {
		lines, err := textLines(f)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			if m := sshdPort.FindStringSubmatch(l); m != nil {
				b.WriteString(m[1] + " ")
			}
		}
	}
	b.WriteString("\n")
	if _, err := exec.LookPath("ufw"); err != nil {
		b.WriteString("installed=no\n")
		return b.Bytes(), nil
	}
	b.WriteString("installed=yes\n")
	lines, err := textLines(root + "/etc/ufw/ufw.conf")
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		if loc := enabledRE.FindStringIndex(l); loc != nil {
			b.WriteString("enabled=" + l[loc[1]:] + "\n")
		}
	}
	if lines, err = textLines(root + "/etc/default/ufw"); err != nil {
		return nil, err
	}
	for _, l := range lines {
		for _, d := range defaultRes {
			if loc := d.re.FindStringIndex(l); loc != nil {
				l = d.name + l[loc[1]:]
				b.WriteString(l + "\n")
			}
		}
	}
	switch loaded, known := nftChainLoaded("ufw-user-input"); {
	case known && loaded:
		b.WriteString("status=Status: active\n")
	case known:
		b.WriteString("status=Status: inactive\n")
	default:
		cmd := exec.Command("iptables", "-n", "-L", "ufw-user-input")
		err = cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			b.WriteString("status=Status: active\n")
		case errors.As(err, &ee) && ee.ExitCode() == 1:
			b.WriteString("status=Status: inactive\n")
		}
	}
	for _, sec := range []struct{ name, file string }{{"[rules4]", "/etc/ufw/user.rules"}, {"[rules6]", "/etc/ufw/user6.rules"}} {
		b.WriteString(sec.name + "\n")
		lines, err := textLines(root + sec.file)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "### tuple ###") {
				b.WriteString(l + "\n")
			}
		}
	}
	b.WriteString("[end]\n")
	return b.Bytes(), nil
}
