package suggest

import "testing"

func TestNearest(t *testing.T) {
	known := []string{"app_binary", "app_port", "app_version", "domain", "tls_cert_file", "tls_key_file"}
	cases := map[string]string{
		"app_verison":  "app_version", // two letters swapped
		"app_versoin":  "app_version",
		"app_binnary":  "app_binary",  // a letter added
		"app_vrsion":   "app_version", // a letter dropped
		"app_vresoin":  "app_version", // two edits in a long name
		"dmoian":       "",            // two edits in a short one
		"domian":       "domain",
		"tls_crt_file": "tls_cert_file",
		"tls_key_fil":  "tls_key_file",
		"release":      "",
		"port":         "",
		"x":            "",
	}
	for name, want := range cases {
		if got := Nearest(name, known); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	if got := DidYouMean("enabeld", []string{"name", "state", "enabled"}); got != ` Did you mean "enabled"?` {
		t.Errorf("DidYouMean(enabeld) = %q", got)
	}
	if got := DidYouMean("colour", []string{"name", "state"}); got != "" {
		t.Errorf("DidYouMean(colour) = %q, want none", got)
	}
}
