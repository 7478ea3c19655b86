// Package localfile writes files on the operator's machine so that no
// reader ever sees a partial one and no planted name is followed: the data
// goes to a new temporary file beside the target (O_EXCL, synced), which is
// then renamed or linked into place.
package localfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeTemp writes data to a new file ".BASE.*.tmp" beside path with mode
// perm, synced to disk, and returns its name.
func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	// CreateTemp makes 0600 files; Chmod states the mode whatever the umask.
	if err := f.Chmod(perm); err != nil {
		return fail(fmt.Errorf("chmod %s: %w", name, err))
	}
	if _, err := f.Write(data); err != nil {
		return fail(fmt.Errorf("write %s: %w", name, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync %s: %w", name, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("close %s: %w", name, err)
	}
	return name, nil
}

// Replace atomically replaces path with data (a link planted at path is
// replaced, never followed), and makes the rename durable where the system
// allows it.
func Replace(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Exclusive puts data at path only if nothing is there yet: link(2) never
// replaces an existing name. It reports whether this call created the file;
// false means another process (or an earlier run) won and the caller must
// read its file.
func Exclusive(path string, data []byte, perm os.FileMode) (created bool, err error) {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("link %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return true, nil
}

// syncDir makes a rename or link in dir durable, where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not every file system syncs a directory
		d.Close()
	}
}
