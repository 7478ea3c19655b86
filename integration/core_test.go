package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stateDigest fingerprints what a deploy could touch on a host: packages,
// files under /etc, /var/www and /opt (names, sizes, modes, mtimes),
// services. Equal digests mean nothing was changed.
const stateDigest = `{ dpkg-query -W -f='${Package} ${Version} ${Status}\n'; ` +
	`find /etc /var/www /opt -xdev -printf '%p %s %m %T@ %l\n' 2>/dev/null | sort; ` +
	`systemctl list-units --all --no-legend --plain 'nginx*' ; } | sha256sum`

func getPage(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitPage polls url for up to 10 s until the body contains want.
func waitPage(t *testing.T, url, want string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := getPage(t, url)
		if strings.Contains(body, want) || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCoreOnRealHosts proves the engine on three real hosts with the demo
// role: plan reads only, apply converges, reruns change nothing, drift is
// shown and repaired, host keys are enforced, a stopped host is reported
// unreachable while the others converge.
func TestCoreOnRealHosts(t *testing.T) {
	hosts := []string{"h1", "h2", "h3"}
	c := startCluster(t, hosts, nil)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	groups := map[string][]string{"h1": {"web"}, "h2": {"web"}, "h3": {"db"}}
	if err := c.WriteInventory(inv, groups, ""); err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	for _, h := range c.Hosts {
		addr[h.Name] = h.Address
	}

	t.Run("plan changes nothing", func(t *testing.T) {
		before := map[string]string{}
		for _, h := range hosts {
			before[h], _ = hostExec(t, c, h, stateDigest)
		}
		r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--output", "json", "--detailed-exitcode")
		if r.code != 2 {
			t.Fatalf("plan on fresh hosts: exit %d, want 2 (changes)", r.code)
		}
		if r.json.Mode != "plan" || r.json.Summary.Changed != 3 {
			t.Fatalf("plan summary %+v, want 3 hosts changed", r.json.Summary)
		}
		if !strings.Contains(r.stdout, "install nginx") {
			t.Errorf("plan does not show the package install:\n%s", r.stdout)
		}
		for _, h := range hosts {
			after, _ := hostExec(t, c, h, stateDigest)
			if after != before[h] {
				t.Errorf("plan changed host %s", h)
			}
			if _, code := hostExec(t, c, h, "dpkg -s nginx >/dev/null 2>&1"); code == 0 {
				t.Errorf("nginx is installed on %s after a plan", h)
			}
		}
	})

	t.Run("apply converges and serves the page", func(t *testing.T) {
		r := skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes", "--output", "json")
		if r.code != 0 || r.json.Summary.Changed != 3 || r.json.Summary.Failed != 0 {
			t.Fatalf("apply: exit %d, summary %+v\n%s", r.code, r.json.Summary, r.stderr)
		}
		for _, h := range hosts {
			// nginx reloads asynchronously: old workers may answer for a moment.
			code, body := waitPage(t, "http://"+addr[h]+"/", "Served by")
			if code != 200 || !strings.Contains(body, "Served by "+h+" ("+addr[h]+")") {
				onHost, _ := hostExec(t, c, h, "ls -la /var/www/demo; cat /var/www/demo/index.html; curl -si localhost/")
				t.Errorf("%s serves %d:\n%s\non the host:\n%s", h, code, body, onHost)
			}
			// The template loops over the inventory: every host is listed.
			for _, other := range hosts {
				if !strings.Contains(body, other+" "+addr[other]) {
					t.Errorf("%s's page does not list %s", h, other)
				}
			}
		}
	})

	t.Run("second apply changes nothing", func(t *testing.T) {
		r := skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes", "--output", "json")
		if r.code != 0 || r.json.Summary.Changed != 0 || r.json.Summary.OK != 3 {
			t.Fatalf("second apply: exit %d, summary %+v", r.code, r.json.Summary)
		}
		r = skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--detailed-exitcode")
		if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
			t.Fatalf("plan after apply: exit %d\n%s", r.code, r.stdout)
		}
	})

	// apply copied skiff to every host as its probe helper; plans read
	// through it. Whatever the drift, it must see exactly what sh sees.
	t.Run("the probe helper sees what sh sees", func(t *testing.T) {
		for _, h := range hosts {
			if out, _ := hostExec(t, c, h, "ls /var/lib/skiff/helper"); len(strings.Fields(out)) != 1 || !strings.HasPrefix(out, "skiff-") {
				t.Fatalf("%s: /var/lib/skiff/helper holds %q, want one skiff build", h, out)
			}
		}
		// The helper on h1 leaves a mark when it runs.
		hostExec(t, c, "h1", `cd /var/lib/skiff/helper && b=$(ls) && mv "$b" real && printf '#!/bin/sh\ntouch /tmp/helper-ran\nexec /var/lib/skiff/helper/real "$@"\n' > "$b" && chmod 700 "$b"`)
		defer hostExec(t, c, "h1", `cd /var/lib/skiff/helper && b=$(ls skiff-*) && mv -f real "$b"`)
		hostExec(t, c, "h1", "chmod 600 /var/www/demo/index.html && chmod 700 /var/www/demo && ln -sfn /etc/hostname /etc/nginx/sites-enabled/demo && systemctl stop nginx && rm -f /tmp/helper-ran")
		hostExec(t, c, "h3", "echo drift >> /var/www/demo/index.html && touch /etc/nginx/sites-enabled/default && chmod 600 /etc/nginx/sites-available/demo")
		changes := func(args ...string) map[string][]string {
			r := skiff(t, append([]string{"plan", "-i", inv, "playbooks/demo.hcl", "--output", "json", "--detailed-exitcode"}, args...)...)
			if r.code != 2 {
				t.Fatalf("plan %v with drift: exit %d\n%s", args, r.code, r.stderr)
			}
			m := map[string][]string{}
			for _, h := range r.json.Hosts {
				for _, ch := range h.Changes {
					m[h.Name] = append(m[h.Name], ch.Task+" "+ch.Action+"\n"+ch.Diff)
				}
			}
			return m
		}
		viaHelper := changes()
		if _, code := hostExec(t, c, "h1", "[ -e /tmp/helper-ran ]"); code != 0 {
			t.Errorf("the plan did not run the probe helper on h1")
		}
		hostExec(t, c, "h1", "rm -f /tmp/helper-ran")
		viaSh := changes("--no-probe-helper")
		if _, code := hostExec(t, c, "h1", "[ -e /tmp/helper-ran ]"); code == 0 {
			t.Errorf("--no-probe-helper ran the probe helper on h1")
		}
		if len(viaHelper["h1"]) < 4 || len(viaHelper["h3"]) < 3 || len(viaHelper["h2"]) != 0 {
			t.Errorf("the plan missed drift: %q", viaHelper)
		}
		for _, h := range hosts {
			if strings.Join(viaHelper[h], "\n--\n") != strings.Join(viaSh[h], "\n--\n") {
				t.Errorf("%s: the helper's plan differs from sh's:\n%s\n=== sh:\n%s", h, strings.Join(viaHelper[h], "\n--\n"), strings.Join(viaSh[h], "\n--\n"))
			}
		}
		if r := skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes"); r.code != 0 {
			t.Fatalf("repair: exit %d\n%s", r.code, r.stdout)
		}
		if r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--detailed-exitcode"); r.code != 0 {
			t.Fatalf("plan after the repair: exit %d\n%s", r.code, r.stdout)
		}
	})

	// Probes keep each file's digest in a record keyed by inode, size and
	// nanosecond times, and hash it again only when that key moves: an edit
	// in place, same inode and same size, must still be seen.
	t.Run("a recorded digest never hides an in-place edit", func(t *testing.T) {
		const conf = "/etc/nginx/sites-available/demo"
		time.Sleep(2100 * time.Millisecond) // records are kept only for files at least 2 s old
		if r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--detailed-exitcode"); r.code != 0 {
			t.Fatalf("plan: exit %d\n%s", r.code, r.stdout)
		}
		if n, _ := hostExec(t, c, "h2", "ls /var/lib/skiff/digests | wc -l"); strings.TrimSpace(n) == "0" {
			t.Fatalf("no digest record on h2 after a plan of files 2 s old")
		}
		first, _ := hostExec(t, c, "h2", "head -c1 "+conf)
		before, _ := hostExec(t, c, "h2", "stat -c '%i %s' "+conf)
		other := "X"
		if first == other {
			other = "Y"
		}
		hostExec(t, c, "h2", "printf '"+other+"' | dd of="+conf+" bs=1 count=1 conv=notrunc 2>/dev/null")
		if after, _ := hostExec(t, c, "h2", "stat -c '%i %s' "+conf); after != before {
			t.Fatalf("the edit was not in place: %q, then %q", before, after)
		}
		r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--output", "json", "--detailed-exitcode")
		if st, n, _ := r.json.host("h2"); r.code != 2 || st != "changed" || n == 0 {
			t.Fatalf("plan after an in-place edit: exit %d, h2 %s with %d changes", r.code, st, n)
		}
		hostExec(t, c, "h2", "printf '%s' '"+first+"' | dd of="+conf+" bs=1 count=1 conv=notrunc 2>/dev/null")
		if r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--detailed-exitcode"); r.code != 0 {
			t.Fatalf("plan after the edit was undone: exit %d\n%s", r.code, r.stdout)
		}
	})

	t.Run("drift is shown exactly and repaired", func(t *testing.T) {
		const conf = "/etc/nginx/sites-available/demo"
		orig, _ := hostExec(t, c, "h2", "cat "+conf)
		hostExec(t, c, "h2", "sed -i 's/try_files .*/return 418;/' "+conf)
		r := skiff(t, "plan", "-i", inv, "playbooks/demo.hcl", "--output", "json", "--detailed-exitcode")
		if r.code != 2 {
			t.Fatalf("plan with drift: exit %d, want 2", r.code)
		}
		for _, h := range []string{"h1", "h3"} {
			if st, n, _ := r.json.host(h); st != "ok" || n != 0 {
				t.Errorf("%s: %s with %d changes, want ok", h, st, n)
			}
		}
		var changes []string
		for _, h := range r.json.Hosts {
			if h.Name != "h2" {
				continue
			}
			for _, ch := range h.Changes {
				changes = append(changes, ch.Task)
				if ch.Task == "template.site" {
					if !strings.Contains(ch.Diff, "-        return 418;") || !strings.Contains(ch.Diff, "+        try_files $uri $uri/ =404;") {
						t.Errorf("diff does not show the drift:\n%s", ch.Diff)
					}
					if ch.Action != "update" {
						t.Errorf("action %s, want update", ch.Action)
					}
				}
			}
		}
		// The drifted file, and the reload it notifies.
		if strings.Join(changes, ",") != "template.site,handler.reload_nginx" {
			t.Fatalf("h2 changes = %v, want the template and its handler", changes)
		}
		r = skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes", "--output", "json")
		if r.code != 0 || r.json.Summary.Changed != 1 {
			t.Fatalf("repair: exit %d, summary %+v", r.code, r.json.Summary)
		}
		now, _ := hostExec(t, c, "h2", "cat "+conf)
		if now != orig {
			t.Errorf("file not restored:\n%s", now)
		}
		if code, _ := waitPage(t, "http://"+addr["h2"]+"/", "Served by"); code != 200 {
			t.Errorf("h2 answers %d after the repair (reload missing?)", code)
		}
	})

	t.Run("host keys are enforced", func(t *testing.T) {
		// A known_hosts that lacks h3's key.
		known, err := os.ReadFile(c.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, line := range strings.Split(strings.TrimSpace(string(known)), "\n") {
			if !strings.HasPrefix(line, addr["h3"]+" ") {
				kept = append(kept, line)
			}
		}
		partial := filepath.Join(dir, "known_hosts_partial")
		if err := os.WriteFile(partial, []byte(strings.Join(kept, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		src, _ := os.ReadFile(inv)
		inv2 := filepath.Join(dir, "inventory-partial.hcl")
		if err := os.WriteFile(inv2, []byte(strings.Replace(string(src), c.KnownHostsFile, partial, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		r := skiff(t, "plan", "-i", inv2, "playbooks/demo.hcl", "--output", "json")
		st, _, msg := r.json.host("h3")
		if r.code != 1 || st != "failed" || !strings.Contains(msg, "SHA256:") || !strings.Contains(msg, "--accept-new-host-keys") {
			t.Fatalf("unknown key: exit %d, h3 %s: %q", r.code, st, msg)
		}
		if st, _, _ := r.json.host("h1"); st != "ok" {
			t.Errorf("h1 is %s; other hosts must go on", st)
		}
		r = skiff(t, "plan", "-i", inv2, "playbooks/demo.hcl", "--output", "json", "--accept-new-host-keys")
		if r.code != 0 || r.json.Summary.OK != 3 {
			t.Fatalf("accept-new: exit %d, summary %+v", r.code, r.json.Summary)
		}
		rec, _ := os.ReadFile(partial)
		if !strings.Contains(string(rec), "\n"+addr["h3"]+" ") {
			t.Fatalf("h3's key was not recorded:\n%s", rec)
		}
		// Recorded, it is now used without the flag.
		if r = skiff(t, "plan", "-i", inv2, "playbooks/demo.hcl", "--detailed-exitcode"); r.code != 0 {
			t.Fatalf("plan with the recorded key: exit %d", r.code)
		}
	})

	t.Run("a stopped host is unreachable, the others converge", func(t *testing.T) {
		hostExec(t, c, "h1", "rm -f /var/www/demo/index.html")
		if err := c.Stop("h3"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r := skiff(t, "apply", "-i", inv, "playbooks/demo.hcl", "--yes", "--output", "json", "--connect-timeout", "5s")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		if st, _, msg := r.json.host("h3"); st != "unreachable" || msg == "" {
			t.Errorf("h3: %s %q, want unreachable with a reason", st, msg)
		}
		if st, n, _ := r.json.host("h1"); st != "changed" || n != 1 {
			t.Errorf("h1: %s with %d changes, want the page restored", st, n)
		}
		if r.json.Summary.Unreachable != 1 || r.json.Summary.Changed != 1 || r.json.Summary.OK != 1 {
			t.Errorf("summary %+v", r.json.Summary)
		}
		if d := time.Since(start); d > 60*time.Second {
			t.Errorf("took %s with one host down", d)
		}
		if !strings.Contains(r.stderr, "unreachable") {
			t.Errorf("recap does not say unreachable:\n%s", r.stderr)
		}
		if code, _ := getPage(t, "http://"+addr["h1"]+"/"); code != 200 {
			t.Errorf("h1 answers %d", code)
		}
	})
}
