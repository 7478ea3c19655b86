package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeTemp writes data to a new temporary file in dir with mode perm,
// synced to disk, and returns its path. The caller links or renames it into
// place, so readers never see a partial file.
func writeTemp(dir string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
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

// writeExclusive puts data at path only if nothing is there yet: the file is
// written aside and hard-linked into place, and link(2) never replaces an
// existing name. It reports whether this call created the file; false means
// another process (or an earlier run) won and the caller must read its file.
func writeExclusive(path string, data []byte, perm os.FileMode) (created bool, err error) {
	tmp, err := writeTemp(filepath.Dir(path), data, perm)
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
	return true, nil
}

// writeReplace atomically replaces path with data (temporary file + rename).
func writeReplace(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(filepath.Dir(path), data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}
