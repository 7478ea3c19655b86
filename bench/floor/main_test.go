package main

import "testing"

func TestScriptJoinsTheHostsGroupsInOrder(t *testing.T) {
	w := work{scripts: [][2]string{{"all", "a"}, {"web", "w"}, {"db", "d"}, {"all", "z"}}}
	if got, want := w.script([]string{"web", "all"}), "set -e\na\nw\nz"; got != want {
		t.Errorf("web host: %q, want %q", got, want)
	}
	if got := w.script([]string{"lb"}); got != "true" {
		t.Errorf("host in no group named: %q, want true", got)
	}
	if got := (work{}).script([]string{"all"}); got != "true" {
		t.Errorf("no -run: %q, want true", got)
	}
}
