package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/skiffdeploy/skiff/internal/localfile"
)

// SavedFormat marks a saved plan file and its version. Version 2 pins the
// content each change writes; a version 1 plan, which does not, is refused.
const SavedFormat = "skiff-plan/2"

// Saved is `skiff plan --out FILE`: the plan and how it was made, so that
// `skiff apply FILE` runs exactly that and can tell when hosts moved on.
// It holds no secret values: diffs of secret content are already withheld,
// secrets are read again from their sources when the plan is applied, and
// the content a change writes is pinned by a keyed digest (ContentKey).
type Saved struct {
	Format    string            `json:"format"`
	Created   time.Time         `json:"created"`
	Inventory string            `json:"inventory"` // absolute paths
	Playbook  string            `json:"playbook"`
	Limit     string            `json:"limit,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
	RolesPath []string          `json:"roles_path,omitempty"`
	Tags      []string          `json:"tags,omitempty"`      // --tags
	SkipTags  []string          `json:"skip_tags,omitempty"` // --skip-tags
	// ConfigDigest covers the inventory, playbook and role files: applying
	// after they changed is refused.
	ConfigDigest string `json:"config_digest"`
	// ContentNonce derives, with the site key, the key of the content
	// digests in Plan (PlanContentKey).
	ContentNonce string `json:"content_nonce"`
	// ContentKeyCheck is ContentKey.Check of that key: applying with
	// another site key is told apart from content that changed.
	ContentKeyCheck string `json:"content_key_check"`
	// SkiffVersion is the skiff that wrote it (package version): only the
	// same version applies it, as another may plan differently.
	SkiffVersion string `json:"skiff_version"`
	Plan         *Plan  `json:"plan"`
}

// WriteSaved writes s to path (0600, owned by the user). It writes a new
// file of its own, under a random name in path's folder, and renames it
// over path when complete: a file or link already at path, or at any
// other name there, is neither followed nor written through, and a
// reader of path sees the old plan or the whole new one.
func WriteSaved(path string, s *Saved) error {
	s.Format = SavedFormat
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return localfile.Replace(path, append(b, '\n'), 0o600)
}

// ReadSaved reads a saved plan; ok is false when path is not one (a
// playbook). A plan that another skiff version wrote than skiffVersion
// (the running skiff's) is refused, naming both.
func ReadSaved(path, skiffVersion string) (s *Saved, ok bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	var probe struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(b, &probe) != nil || probe.Format == "" {
		return nil, false, nil
	}
	if probe.Format != SavedFormat {
		return nil, true, fmt.Errorf("%s: plan format %q, this skiff reads %q", path, probe.Format, SavedFormat)
	}
	s = &Saved{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, true, fmt.Errorf("%s: %w", path, err)
	}
	if s.SkiffVersion != skiffVersion {
		wrote := s.SkiffVersion
		if wrote == "" {
			wrote = "unknown"
		}
		return nil, true, fmt.Errorf("%s: the plan was saved by skiff %s and this is skiff %s: apply it with the skiff that saved it, or plan again with this one", path, wrote, skiffVersion)
	}
	return s, true, nil
}

// Digest hashes named file contents in name order.
func Digest(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Mismatch is a task whose change now differs from the saved plan's.
type Mismatch struct {
	Task    string // play/role task
	Planned string // "" when the plan had no change
	Now     string // "" when there is no change now
}

func (m Mismatch) String() string {
	say := func(s string) string {
		if s == "" {
			return "no change"
		}
		return s
	}
	return fmt.Sprintf("%s: planned %s, now %s", m.Task, say(m.Planned), say(m.Now))
}

// Compare returns, per host, how a fresh plan differs from the saved one.
// Hosts that match exactly are absent. A host missing from either side, or
// whose status differs, is a mismatch too.
func Compare(saved, fresh *Plan) map[string][]Mismatch {
	out := map[string][]Mismatch{}
	old := map[string]*Host{}
	for _, h := range saved.Hosts {
		old[h.Name] = h
	}
	for _, h := range fresh.Hosts {
		o, ok := old[h.Name]
		if !ok {
			out[h.Name] = []Mismatch{{Task: "(host)", Planned: "not in the plan", Now: string(h.Status)}}
			continue
		}
		delete(old, h.Name)
		if o.Status != h.Status && (o.Status == StatusFailed || o.Status == StatusUnreachable || h.Status == StatusFailed || h.Status == StatusUnreachable) {
			out[h.Name] = append(out[h.Name], Mismatch{Task: "(host)", Planned: string(o.Status), Now: string(h.Status) + ": " + h.Error})
			continue
		}
		planned := map[string]Change{}
		for _, c := range o.Changes {
			planned[c.Key()] = c
		}
		for _, c := range h.Changes {
			key := c.Key()
			p, ok := planned[key]
			delete(planned, key)
			switch {
			case !ok:
				out[h.Name] = append(out[h.Name], Mismatch{Task: key, Now: describe(c)})
			case p.Action != c.Action || p.Summary != c.Summary || p.Sensitive != c.Sensitive:
				out[h.Name] = append(out[h.Name], Mismatch{Task: key, Planned: describe(p), Now: describe(c)})
			case p.Diff != c.Diff || !sameContent(p.Content, c.Content):
				out[h.Name] = append(out[h.Name], Mismatch{Task: key, Planned: describe(p), Now: "the same change, " + contentChange(p.Content, c.Content)})
			}
		}
		for key, p := range planned {
			out[h.Name] = append(out[h.Name], Mismatch{Task: key, Planned: describe(p)})
		}
		sort.Slice(out[h.Name], func(i, j int) bool { return out[h.Name][i].Task < out[h.Name][j].Task })
		if len(out[h.Name]) == 0 {
			delete(out, h.Name)
		}
	}
	for name := range old {
		out[name] = []Mismatch{{Task: "(host)", Planned: "in the plan", Now: "not selected"}}
	}
	return out
}

func describe(c Change) string { return string(c.Action) + " (" + c.Summary + ")" }

func sameContent(a, b *Content) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Digest == b.Digest
}

// contentChange says how the content a change writes differs from the
// plan's, naming its source.
func contentChange(planned, now *Content) string {
	switch {
	case now == nil && planned == nil:
		return "but from content that differs from what the plan saw"
	case now == nil:
		return "but it no longer writes the content the plan saw from " + planned.Source
	case planned == nil:
		return "but it writes content from " + now.Source + " that the plan did not"
	}
	return "but the content from " + now.Source + " differs from what the plan saw"
}
