package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// offsetsFile is the persisted delivery state, data/offsets.json. A source
// listed here has been seen before, even with no files: on a restart its
// files are read from their saved offsets, and files that appeared since are
// read from the start. A source not listed starts at the end of its files.
type offsetsFile struct {
	Sources map[string][]fileOffset `json:"sources"`
}

// fileOffset records how far one file (identified by device and inode, so a
// rotated file is still found under its new name) has been delivered.
type fileOffset struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
}

func loadOffsets(path string) (offsetsFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return offsetsFile{Sources: map[string][]fileOffset{}}, nil
	}
	if err != nil {
		return offsetsFile{}, fmt.Errorf("read offsets: %w", err)
	}
	var of offsetsFile
	if err := json.Unmarshal(data, &of); err != nil {
		return offsetsFile{}, fmt.Errorf("offsets %s: %w", path, err)
	}
	if of.Sources == nil {
		of.Sources = map[string][]fileOffset{}
	}
	return of, nil
}

// saveOffsets replaces path atomically (temporary file, fsync, rename), so
// a crash leaves either the old or the new state, never a torn file.
func saveOffsets(path string, of offsetsFile) error {
	data, err := json.MarshalIndent(of, "", "  ")
	if err != nil {
		return fmt.Errorf("encode offsets: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".offsets-*")
	if err != nil {
		return fmt.Errorf("save offsets: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save offsets: %w", err)
	}
	return nil
}
