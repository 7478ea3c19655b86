package filestate

import "github.com/skiffdeploy/skiff/internal/module"

// The native probes below run on the host, inside skiff's helper (see
// module.NativeProber). Each prints byte for byte what the sh fragment it
// stands for prints, or declines (OK false) where it could differ: an
// owner or group that /etc/passwd or /etc/group does not name, since
// stat(1) may find it through another name service.

// Native kinds.
const (
	NativeFile = "file" // File.Probe
	NativeStat = "stat" // StatScript, for directory and symlink
)

// Natives are the answerers of the kinds built on this package (file,
// template, directory, symlink), for their registration.
var Natives = map[string]module.NativeAnswerer{NativeFile: AnswerFiles, NativeStat: AnswerStats}

// FileQuery is File.Probe's question to the helper.
type FileQuery struct {
	Path   string `json:"path"`
	Absent bool   `json:"absent,omitempty"`
	// Want is the wanted sha256 when the content may be sent back for a
	// diff (known, not sensitive); "" sends nothing.
	Want      string `json:"want,omitempty"`
	DigestDir string `json:"digest_dir"`
}

// StatQuery is StatScript's question to the helper.
type StatQuery struct {
	Path   string `json:"path"`
	Follow bool   `json:"follow,omitempty"`
}

// NativeProbe implements module.NativeProber.
func (f *File) NativeProbe() (string, any, bool) {
	if f.Path == "" {
		return "", nil, false
	}
	q := FileQuery{Path: f.Path, Absent: f.Absent, DigestDir: f.digestDir()}
	if f.Known && !f.Sensitive {
		q.Want = f.wantSHA()
	}
	return NativeFile, q, true
}
