package service

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
)

// NativeUnit is the helper's kind for the service probe: one D-Bus round
// with systemd (or one systemctl) for every service of a batch instead of
// one systemctl per task.
const NativeUnit = "unit"

// Natives are the service kind's native answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeUnit: AnswerUnits}

// unitQuery is Probe's question to the helper.
type unitQuery struct {
	Name string `json:"name"`
}

// unitProps are the properties the probe reads, as systemctl show -p.
var unitProps = []string{"-p", "LoadState", "-p", "NeedDaemonReload", "-p", "ActiveState", "-p", "UnitFileState"}

// NativeProbe implements module.NativeProber.
func (s *Service) NativeProbe() (string, any, bool) {
	if s.name == "" {
		return "", nil, false
	}
	return NativeUnit, unitQuery{Name: s.name}, true
}

// AnswerUnits is the helper's answerer for NativeUnit: it prints each
// unit's part as the fragment prints its own systemctl show call. It asks
// systemd over D-Bus first (native_dbus.go: no exec) and runs systemctl
// show once for the units D-Bus left unanswered. It declines a unit whose
// UnitFileState is empty or "generated" (the fragment then asks
// is-enabled), and all those left to systemctl when it fails or prints
// other than one part per unit.
func AnswerUnits(queries [][]byte) []module.NativeAnswer {
	out := make([]module.NativeAnswer, len(queries))
	names := make([]string, len(queries))
	var units []string
	index := map[string]int{}
	for i, raw := range queries {
		var q unitQuery
		if json.Unmarshal(raw, &q) != nil || q.Name == "" || strings.HasPrefix(q.Name, "-") {
			continue
		}
		names[i] = q.Name
		if _, ok := index[q.Name]; !ok {
			index[q.Name] = len(units)
			units = append(units, q.Name)
		}
	}
	if len(units) == 0 {
		return out
	}
	if _, err := exec.LookPath("systemctl"); err != nil {
		for i, n := range names {
			if n != "" {
				out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: []byte("systemd=no\n")}, OK: true}
			}
		}
		return out
	}
	byBus := showOverDBus(units)
	var rest []string
	for j, u := range units {
		if !byBus[j].known {
			rest = append(rest, u)
		}
	}
	byExec := showByExec(rest)
	for i, n := range names {
		if n == "" {
			continue
		}
		if s := byBus[index[n]]; s.known {
			if s.stdout != nil {
				out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: s.stdout}, OK: true}
			}
			continue
		}
		part, ok := byExec[n]
		if !ok {
			continue
		}
		if !strings.Contains("\n"+part+"\n", "\nLoadState=") {
			continue
		}
		if strings.Contains("\n"+part+"\n", "\nUnitFileState=\n") || strings.Contains("\n"+part+"\n", "\nUnitFileState=generated\n") {
			continue
		}
		var b bytes.Buffer
		b.WriteString(part)
		b.WriteByte('\n')
		out[i] = module.NativeAnswer{Probed: module.Probed{Stdout: b.Bytes()}, OK: true}
	}
	return out
}

// showByExec runs systemctl show once for the units and returns each
// unit's part of its output (trailing newlines cut), or nil when it fails
// or prints other than one part per unit.
func showByExec(units []string) map[string]string {
	if len(units) == 0 {
		return nil
	}
	cmd := exec.Command("systemctl", append(append([]string{"show"}, unitProps...), units...)...)
	stdout, err := cmd.Output()
	if err != nil {
		return nil
	}
	parts := strings.Split(strings.TrimRight(string(stdout), "\n"), "\n\n")
	if len(parts) != len(units) {
		return nil
	}
	m := make(map[string]string, len(units))
	for j, u := range units {
		m[u] = strings.TrimRight(parts[j], "\n")
	}
	return m
}
