package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/integration/sumostandin/debbuild"
)

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func buildDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not found")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	deb, err := debbuild.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

func TestBuildDeb(t *testing.T) {
	deb := buildDeb(t)
	if filepath.Base(deb) != "sumocollector_19.0-standin_amd64.deb" {
		t.Errorf("file name %s", filepath.Base(deb))
	}
	fields := map[string]string{"Package": "sumocollector", "Version": "19.0-standin", "Architecture": "amd64"}
	for f, want := range fields {
		if got := strings.TrimSpace(dpkgDeb(t, "-f", deb, f)); got != want {
			t.Errorf("%s: %q, want %q", f, got, want)
		}
	}
	if m := dpkgDeb(t, "-f", deb, "Maintainer"); strings.TrimSpace(m) == "" {
		t.Error("no Maintainer")
	}
	if d := dpkgDeb(t, "-f", deb, "Description"); !strings.Contains(d, "stand-in") || !strings.Contains(d, "NOT the real") {
		t.Errorf("Description does not say it is a stand-in: %q", d)
	}

	// dpkg-deb -c lists "mode owner/group size date time ./path".
	listing := map[string]string{}
	for _, line := range strings.Split(dpkgDeb(t, "-c", deb), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 {
			listing[strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")] = f[0] + " " + f[1]
		}
	}
	for path, want := range map[string]string{
		"/opt/SumoCollector/collector":          "-rwxr-xr-x root/root",
		"/opt/SumoCollector/config":             "drwxr-xr-x root/root",
		"/lib/systemd/system/collector.service": "-rw-r--r-- root/root",
	} {
		if got := listing[path]; got != want {
			t.Errorf("%s: %q, want %q (listing %v)", path, got, want, listing)
		}
	}
	for path := range listing {
		if strings.HasPrefix(path, "/opt/SumoCollector/config/") {
			t.Errorf("config/ is not empty: %s", path)
		}
		if strings.HasPrefix(path, "/etc/systemd") {
			t.Errorf("the package enables the service: %s", path)
		}
	}

	root := t.TempDir()
	dpkgDeb(t, "-x", deb, root)
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/collector.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=simple", "ExecStart=/opt/SumoCollector/collector\n", "Restart=always", "RestartSec=2"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("collector.service lacks %q", want)
		}
	}
	ctrl := dpkgDeb(t, "-I", deb)
	for _, script := range []string{"postinst", "preinst"} {
		if strings.Contains(ctrl, script) {
			t.Errorf("the package has a %s", script)
		}
	}

	// A second Build comes from the cache: same bytes, no rebuild.
	start := time.Now()
	again := buildDeb(t)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cached Build took %v", d)
	}
	if sum(t, deb) != sum(t, again) {
		t.Error("a second Build gave different bytes")
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// TestPackagedBinary runs the daemon from the .deb as a process: flags,
// delivery, and a clean exit on SIGTERM as systemd sends it.
func TestPackagedBinary(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the packaged binary is linux/amd64")
	}
	deb := buildDeb(t)
	root := t.TempDir()
	dpkgDeb(t, "-x", deb, root)

	e := newEnv(t, "")
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "opt/SumoCollector/collector"), "-config", e.config, "-data", e.data, "-interval", "50ms")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	e.waitFollowing(t, 1)
	appendLines(t, e.logPath, seq("p", 1, 4)...)
	e.waitLines(t, seq("p", 1, 4))

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10s after SIGTERM")
	}
	if strings.Contains(stderr.String(), testAccessKey) {
		t.Error("the access key appears on stderr")
	}
	if !strings.Contains(stderr.String(), "collector started") {
		t.Errorf("stderr: %s", stderr.String())
	}
	t.Logf("daemon stderr:\n%s", stderr.String())
}
