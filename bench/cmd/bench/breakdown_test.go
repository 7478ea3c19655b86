package main

import "testing"

// The helper's account lines, as -vv prints them under each host, are
// summed per part over the hosts, with their items.
func TestParseAccountSumsThePartsOverTheHosts(t *testing.T) {
	out := `19:08:04.430 web1: exit 0 after 876ms, 5566 bytes out, stderr:
                   | skiff probe helper cpu: start-up 5.867ms
                   | skiff probe helper cpu: native unit 4 1.900ms
                   | skiff probe helper cpu: sh command 1 5.718ms
                   | skiff probe helper cpu: total 23.621ms
19:08:04.431 db1: exit 0 after 870ms, 5566 bytes out, stderr:
                  | skiff probe helper cpu: start-up 4.133ms
                  | skiff probe helper cpu: native unit 2 1.100ms
                  | skiff probe helper cpu: total 10.000ms
`
	parts, items, runs := parseAccount(out)
	if runs != 2 {
		t.Errorf("%d helper runs, want 2", runs)
	}
	want := map[string]float64{"start-up": 10.0, "native unit": 3.0, "sh command": 5.718, "total": 33.621}
	for name, v := range want {
		if d := parts[name] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: %.3f ms, want %.3f", name, parts[name], v)
		}
	}
	if items["native unit"] != 6 || items["sh command"] != 1 {
		t.Errorf("items %v", items)
	}
}
