package service

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"

	"skiff/internal/module"
)

// NativeUnit is the helper's kind for the service probe: one systemctl
// for every service of a batch instead of one per task.
const NativeUnit = "unit"

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

// AnswerUnits is the helper's answerer for NativeUnit: it runs systemctl
// show once for all the units and prints each unit's part as the fragment
// prints its own call's output. It declines a unit whose UnitFileState
// is empty or "generated" (the fragment then asks is-enabled), and all of
// them when systemctl fails or prints other than one part per unit.
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
	cmd := exec.Command("systemctl", append(append([]string{"show"}, unitProps...), units...)...)
	stdout, err := cmd.Output()
	if err != nil {
		return out
	}
	parts := strings.Split(strings.TrimRight(string(stdout), "\n"), "\n\n")
	if len(parts) != len(units) {
		return out
	}
	for i, n := range names {
		if n == "" {
			continue
		}
		part := strings.TrimRight(parts[index[n]], "\n")
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
