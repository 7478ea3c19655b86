package testhosts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ImageRepository is the local (never pushed) repository of test-host images.
const ImageRepository = "skiff-testhost"

// buildScript is the image recipe, relative to the repository root.
const buildScript = "integration/testhost/build-image.sh"

// The Debian suites test hosts run.
const (
	Bookworm = "bookworm" // Debian 12, the default
	Trixie   = "trixie"   // Debian 13
)

var suitePattern = regexp.MustCompile(`^[a-z]+$`)

// EnsureImage builds the test-host image of a Debian suite ("" is
// Bookworm) unless it already exists and returns its reference,
// "skiff-testhost:SUITE-HASH". HASH is a hash of the recipe, so a changed
// recipe builds a new image and an unchanged one costs only a
// "docker image inspect". The build's progress goes to stderr.
func EnsureImage(ctx context.Context, suite string) (string, error) {
	if suite == "" {
		suite = Bookworm
	}
	if !suitePattern.MatchString(suite) {
		return "", fmt.Errorf("test-host image: suite %q: want a Debian codename such as %s or %s", suite, Bookworm, Trixie)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, buildScript)
	tagPattern := regexp.MustCompile(`^` + suite + `-[0-9a-f]{12}$`)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, suite)
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
	// On cancel, let the script clean its rootfs up (bash runs its trap once
	// the current step ends); kill it only if that takes too long.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Minute
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s test-host image (%s): %w\n%s", suite, script, err, lastLines(stderr.String(), 20))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	tag := strings.TrimSpace(lines[len(lines)-1])
	if !tagPattern.MatchString(tag) {
		return "", fmt.Errorf("build test-host image: %s printed %q, want %s-HASH (12 hex digits) as last line", script, tag, suite)
	}
	return ImageRepository + ":" + tag, nil
}

// RepoRoot returns the skiff repository root: the folder holding the go.mod
// of module "github.com/skiffdeploy/skiff", searched upwards from this source file (when the build
// kept its path) and then from the working directory.
func RepoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if isSkiffModule(filepath.Join(dir, "go.mod")) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("skiff repository root not found above %v", starts)
}

func isSkiffModule(gomod string) bool {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == "github.com/skiffdeploy/skiff"
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
