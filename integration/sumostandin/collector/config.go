package collector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Config is what the stand-in reads from user.properties, the real
// collector's configuration file. Keys it does not use (ephemeral, …) are
// accepted and ignored, as the real collector accepts many more.
type Config struct {
	Name     string    // name: the collector's name, sent as X-Sumo-Host
	AccessID string    // accessid: basic-auth user
	Key      AccessKey // accesskey: basic-auth password; never printed
	URL      string    // url: the collection endpoint; lines go to URL/receiver/v1/http
	Sources  string    // sources (or syncSources): a JSON file or a folder of them
}

// AccessKey is a secret that prints as "(sensitive)" through fmt and slog,
// so no log line can carry it by accident.
type AccessKey string

func (AccessKey) String() string               { return "(sensitive)" }
func (AccessKey) GoString() string             { return `"(sensitive)"` }
func (AccessKey) LogValue() slog.Value         { return slog.StringValue("(sensitive)") }
func (AccessKey) MarshalText() ([]byte, error) { return []byte("(sensitive)"), nil }

// Source is one source definition of the sources JSON. Only LocalFile
// sources are followed.
type Source struct {
	SourceType     string `json:"sourceType"`
	Name           string `json:"name"`
	PathExpression string `json:"pathExpression"`
	Category       string `json:"category"`
}

// LoadConfig reads a user.properties file: key=value (or key: value) lines,
// # and ! comments, backslash escapes as in Java properties. A relative
// sources path is taken relative to the file's folder.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	props, err := parseProperties(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg := Config{
		Name:     props["name"],
		AccessID: props["accessid"],
		Key:      AccessKey(props["accesskey"]),
		URL:      strings.TrimRight(props["url"], "/"),
		Sources:  props["sources"],
	}
	if cfg.Sources == "" {
		cfg.Sources = props["syncSources"]
	}
	var missing []string
	for _, kv := range [][2]string{{"accessid", cfg.AccessID}, {"accesskey", string(cfg.Key)}, {"url", cfg.URL}, {"sources", cfg.Sources}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("%s: missing %s", path, strings.Join(missing, ", "))
	}
	if !filepath.IsAbs(cfg.Sources) {
		cfg.Sources = filepath.Join(filepath.Dir(path), cfg.Sources)
	}
	return cfg, nil
}

func parseProperties(data []byte) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		sep := indexUnescaped(line, "=:")
		if sep < 0 {
			return nil, fmt.Errorf("line %d: want key=value", n)
		}
		key := unescape(strings.TrimSpace(line[:sep]))
		props[key] = unescape(strings.TrimSpace(line[sep+1:]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	return props, nil
}

// indexUnescaped is the index of the first byte of s in chars that is not
// escaped by a backslash, or -1.
func indexUnescaped(s, chars string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case strings.IndexByte(chars, s[i]) >= 0:
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i == len(s)-1 {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// sourcesFile is the real collector's JSON source configuration: a list of
// sources, or a single source.
type sourcesFile struct {
	APIVersion string   `json:"api.version"`
	Sources    []Source `json:"sources"`
	Source     *Source  `json:"source"`
}

// LoadSources reads the LocalFile sources of path, a JSON file or a folder
// whose *.json files are read in name order. Other source types are
// skipped (and logged by the caller through skipped). Source names must be
// unique: the stand-in keeps its offsets by source name.
func LoadSources(path string) (local []Source, skipped []Source, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("sources: %w", err)
	}
	files := []string{path}
	if fi.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.json"))
		if err != nil {
			return nil, nil, fmt.Errorf("sources: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("sources: %w", err)
		}
		var sf sourcesFile
		if err := json.Unmarshal(data, &sf); err != nil {
			return nil, nil, fmt.Errorf("sources %s: %w", f, err)
		}
		all := sf.Sources
		if sf.Source != nil {
			all = append(all, *sf.Source)
		}
		for _, s := range all {
			if !strings.EqualFold(s.SourceType, "LocalFile") {
				skipped = append(skipped, s)
				continue
			}
			switch {
			case s.Name == "":
				return nil, nil, fmt.Errorf("sources %s: a LocalFile source has no name", f)
			case s.PathExpression == "":
				return nil, nil, fmt.Errorf("sources %s: source %q has no pathExpression", f, s.Name)
			case seen[s.Name]:
				return nil, nil, fmt.Errorf("sources %s: source name %q used twice", f, s.Name)
			}
			seen[s.Name] = true
			local = append(local, s)
		}
	}
	return local, skipped, nil
}
