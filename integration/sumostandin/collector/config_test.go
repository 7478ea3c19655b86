package collector

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, props string
		want        Config
		wantErr     string
	}{
		{
			name:  "real collector style",
			props: "# comment\n! also a comment\nname = web1\naccessid=su1\naccesskey=se\\=cret\nsources=/etc/sumo/sources.json\nurl=https\\://collectors.example.com/\nephemeral=true\n",
			want:  Config{Name: "web1", AccessID: "su1", Key: "se=cret", URL: "https://collectors.example.com", Sources: "/etc/sumo/sources.json"},
		},
		{
			name:  "colon separator, relative sources, syncSources",
			props: "accessid: a\naccesskey: b\nurl: http://x\nsyncSources: src\n",
			want:  Config{AccessID: "a", Key: "b", URL: "http://x", Sources: filepath.Join(dir, "src")},
		},
		{name: "missing keys", props: "name=x\nurl=http://x\n", wantErr: "missing accessid, accesskey, sources"},
		{name: "not key=value", props: "just words\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "user.properties")
			write(t, path, tt.props)
			got, err := LoadConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAccessKeyNeverPrinted(t *testing.T) {
	cfg := Config{AccessID: "id", Key: "topsecret"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "cfg", cfg, "key", cfg.Key)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "cfg", cfg, "key", cfg.Key)
	printed := fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg.Key, cfg.Key) + logs.String()
	if strings.Contains(printed, "topsecret") {
		t.Errorf("the key was printed: %s", printed)
	}
}

func TestLoadSources(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), `{"api.version":"v1","sources":[
		{"sourceType":"LocalFile","name":"nginx-access","pathExpression":"/var/log/nginx/access.log","category":"web"},
		{"sourceType":"RemoteFileV2","name":"remote"}]}`)
	write(t, filepath.Join(dir, "b.json"), `{"api.version":"v1","source":
		{"sourceType":"LocalFile","name":"syslog","pathExpression":"/var/log/syslog"}}`)
	write(t, filepath.Join(dir, "notes.txt"), `not json`)

	local, skipped, err := LoadSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(local) != 2 || local[0].Name != "nginx-access" || local[0].Category != "web" || local[1].Name != "syslog" {
		t.Errorf("local sources %+v", local)
	}
	if len(skipped) != 1 || skipped[0].Name != "remote" {
		t.Errorf("skipped %+v", skipped)
	}
	single, _, err := LoadSources(filepath.Join(dir, "b.json"))
	if err != nil || len(single) != 1 {
		t.Errorf("single file: %+v, %v", single, err)
	}

	for name, js := range map[string]string{
		"duplicate name": `{"sources":[{"sourceType":"LocalFile","name":"x","pathExpression":"/a"},{"sourceType":"LocalFile","name":"x","pathExpression":"/b"}]}`,
		"no path":        `{"sources":[{"sourceType":"LocalFile","name":"x"}]}`,
		"no name":        `{"sources":[{"sourceType":"LocalFile","pathExpression":"/a"}]}`,
		"bad json":       `{"sources":`,
	} {
		p := filepath.Join(t.TempDir(), "s.json")
		write(t, p, js)
		if _, _, err := LoadSources(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
