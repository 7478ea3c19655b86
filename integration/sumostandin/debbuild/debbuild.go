// Package debbuild builds the sumocollector stand-in .deb: the stand-in
// daemon (skiff/integration/sumostandin) laid out like the real Sumo Logic
// collector package, for integration tests that cannot download the real one.
package debbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

const (
	// Package and Version are the stand-in's control fields.
	Package = "sumocollector"
	Version = "19.0-standin"
	// FileName is the name of the .deb that Build writes.
	FileName = Package + "_" + Version + "_amd64.deb"

	daemonImportPath = "github.com/skiffdeploy/skiff/integration/sumostandin"
)

// serviceUnit runs the daemon with its defaults. The package does not
// enable it: the sumo role enables and starts it once it has written
// user.properties.
const serviceUnit = `[Unit]
Description=Sumo Logic collector (skiff test stand-in)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/opt/SumoCollector/collector
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`

const controlTemplate = `Package: ` + Package + `
Version: ` + Version + `
Architecture: amd64
Maintainer: skiff developers <skiff@localhost>
Installed-Size: %d
Section: admin
Priority: optional
Description: test stand-in for the Sumo Logic collector (NOT the real collector)
 This package is a stand-in used by skiff's integration tests. It is not the
 Sumo Logic installed collector and contains no Sumo Logic code. It has the
 same package name, layout (/opt/SumoCollector, config/user.properties) and
 systemd service (collector); its daemon follows the LocalFile sources named
 in user.properties and POSTs new lines to <url>/receiver/v1/http.
`

// Build writes FileName into outDir and returns its path. The .deb is
// cached in the user's cache folder under a hash of the daemon's sources
// (and of this packaging), so repeated test runs build it once. It needs the
// go tool and dpkg-deb.
func Build(ctx context.Context, outDir string) (debPath string, err error) {
	modDir := moduleDir()
	key, err := sourceHash(ctx, modDir)
	if err != nil {
		return "", fmt.Errorf("sumostandin: hash sources: %w", err)
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cacheDir = filepath.Join(cacheDir, "skiff", "sumostandin")
	cached := filepath.Join(cacheDir, key+".deb")
	if _, err := os.Stat(cached); err != nil {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return "", fmt.Errorf("sumostandin: cache: %w", err)
		}
		if err := buildDeb(ctx, modDir, cached); err != nil {
			return "", fmt.Errorf("sumostandin: %w", err)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("sumostandin: %w", err)
	}
	debPath = filepath.Join(outDir, FileName)
	if err := copyFile(cached, debPath); err != nil {
		return "", fmt.Errorf("sumostandin: %w", err)
	}
	return debPath, nil
}

// moduleDir is the folder to run the go tool in: this source file's module
// when the path is known (tests), else the working directory.
func moduleDir() string {
	_, file, _, ok := runtime.Caller(0)
	if ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..", "..")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
	}
	return ""
}

// sourceHash hashes everything the daemon binary is built from outside the
// standard library (module packages' Go files, dependency versions), plus
// the Go version and this packaging.
func sourceHash(ctx context.Context, modDir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Standard,Module", daemonImportPath)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", runtime.Version(), serviceUnit, controlTemplate)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Dir     string
			GoFiles, EmbedFiles []string
			Standard            bool
			Module              *struct{ Path, Version string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("go list output: %w", err)
		}
		if p.Standard {
			continue
		}
		fmt.Fprintf(h, "package %s\n", p.ImportPath)
		if p.Module != nil && p.Module.Version != "" {
			fmt.Fprintf(h, "module %s@%s\n", p.Module.Path, p.Module.Version)
			continue // a versioned dependency is immutable
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			data, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "file %s %d\n", f, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// buildDeb stages the package tree and runs dpkg-deb; the result is
// renamed into dest, so a concurrent Build never sees a partial file.
func buildDeb(ctx context.Context, modDir, dest string) error {
	stage, err := os.MkdirTemp("", "sumostandin-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	root := filepath.Join(stage, "root")
	for _, d := range []string{"DEBIAN", "opt/SumoCollector/config", "lib/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}

	bin := filepath.Join(root, "opt/SumoCollector/collector")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, daemonImportPath)
	build.Dir = modDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", daemonImportPath, err, bytes.TrimSpace(out))
	}
	if err := os.WriteFile(filepath.Join(root, "lib/systemd/system/collector.service"), []byte(serviceUnit), 0o644); err != nil {
		return err
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return err
	}
	installedKiB := (fi.Size() + int64(len(serviceUnit)) + 1023) / 1024
	control := fmt.Sprintf(controlTemplate, installedKiB)
	if err := os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		return err
	}
	// Modes are stated, not left to the umask: dpkg-deb checks DEBIAN's,
	// and the tree's modes are what gets installed.
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(p, 0o755)
		case p == bin:
			return os.Chmod(p, 0o755)
		default:
			return os.Chmod(p, 0o644)
		}
	})
	if err != nil {
		return err
	}

	tmp := filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp"+filepath.Base(stage))
	pack := exec.CommandContext(ctx, "dpkg-deb", "--build", "--root-owner-group", "-Zgzip", root, tmp)
	if out, err := pack.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dpkg-deb: %w: %s", err, bytes.TrimSpace(out))
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// copyFile copies src to dst through a temporary file and a rename.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	tmp := out.Name()
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
