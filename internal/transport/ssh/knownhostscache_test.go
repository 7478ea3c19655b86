package ssh

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A run over many hosts checks every host key against one known_hosts
// file: the file is parsed once, not once per host.
func TestKnownHostsParsedOnceForManyHosts(t *testing.T) {
	key := newEd25519(t).signer.PublicKey()
	var lines strings.Builder
	const hosts = 200
	addrs := make([]string, hosts)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.0.%d.%d:22", i/250, i%250+1)
		lines.WriteString(knownHostsLine(addrs[i], key))
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	store := NewHostKeyStore()
	before := knownHostsReads.Load()
	// As a run does: many handshakes at once.
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chk, release, err := store.checker(path, addr, false)
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			if got := len(chk.known()); got != 1 {
				t.Errorf("%s: %d keys known, want 1", addr, got)
			}
		}()
	}
	wg.Wait()
	if reads := knownHostsReads.Load() - before; reads != 1 {
		t.Errorf("checking %d hosts parsed known_hosts %d times, want once", hosts, reads)
	}
}

// What changes in the file while skiff runs (a line added, the file
// replaced) is seen by the next check.
func TestKnownHostsChangesSeenByLaterChecks(t *testing.T) {
	oldKey, newKey := newEd25519(t).signer.PublicKey(), newEd25519(t).signer.PublicKey()
	path := filepath.Join(t.TempDir(), "known_hosts")
	store := NewHostKeyStore()
	knows := func(addr string) int {
		t.Helper()
		chk, release, err := store.checker(path, addr, false)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		return len(chk.known())
	}

	if n := knows("10.0.0.1:22"); n != 0 {
		t.Fatalf("missing file: %d keys known for 10.0.0.1", n)
	}
	if err := os.WriteFile(path, []byte(knownHostsLine("10.0.0.1:22", oldKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := knows("10.0.0.1:22"); n != 1 {
		t.Fatalf("file created: %d keys known for 10.0.0.1, want 1", n)
	}
	if err := appendLine(path, knownHostsLine("10.0.0.2:22", oldKey)); err != nil {
		t.Fatal(err)
	}
	if n := knows("10.0.0.2:22"); n != 1 {
		t.Fatalf("line added: %d keys known for 10.0.0.2, want 1", n)
	}

	// Replaced by rename, same size: the new key is the one checked.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(knownHostsLine("10.0.0.1:22", newKey)+knownHostsLine("10.0.0.2:22", oldKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	chk, release, err := store.checker(path, "10.0.0.1:22", false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	known := chk.known()
	if len(known) != 1 || string(known[0].Key.Marshal()) != string(newKey.Marshal()) {
		t.Errorf("after the file was replaced, 10.0.0.1's known keys are %v, want the new key only", known)
	}
}
