package template

import "testing"

// A template read through LocalFiles (shared bytes) is parsed once for
// every host; other bytes are parsed each time and not remembered.
func TestParseRemembersSharedTemplates(t *testing.T) {
	text := []byte("hello ${name}\n")
	a, _ := parse(text, "t.tftpl", true)
	b, _ := parse(text, "t.tftpl", true)
	if a != b {
		t.Errorf("the shared template was parsed twice")
	}
	other := []byte("hello ${name}\n")
	c, _ := parse(other, "t.tftpl", false)
	d, _ := parse(other, "t.tftpl", false)
	if c == d || c == a {
		t.Errorf("unshared bytes were remembered")
	}
}
