package download

import (
	"encoding/json"
	"fmt"
	"syscall"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
)

// NativeDownload names the helper's answerer for Download.Probe.
const NativeDownload = "download"

// Natives are the download kind's answerers, for its registration.
var Natives = map[string]module.NativeAnswerer{NativeDownload: AnswerDownloads}

// NativeProbe implements module.NativeProber: the file's lines as the file
// kind's answerer prints them, then the fetcher found. A task with a
// checksum_url has none: its probe reads the network.
func (d *Download) NativeProbe() (string, any, bool) {
	if d.path() == "" || d.url == "" || d.checksumURL != "" {
		return "", nil, false
	}
	_, q, ok := d.file.NativeProbe()
	return NativeDownload, q, ok
}

// AnswerDownloads answers the queries (filestate.FileQuery) as Probe's
// fragment would: the file kind's answer, then "fetcher=PATH".
func AnswerDownloads(queries [][]byte) []module.NativeAnswer {
	for _, raw := range queries {
		var q filestate.FileQuery
		if json.Unmarshal(raw, &q) != nil {
			return make([]module.NativeAnswer, len(queries))
		}
	}
	out := filestate.AnswerFiles(queries)
	fetcher := ""
	for _, f := range Fetchers {
		// test -x as root: access(2) with X_OK.
		if syscall.Access(f, 1) == nil {
			fetcher = f
			break
		}
	}
	for i := range out {
		if out[i].OK && fetcher != "" {
			out[i].Stdout = append(out[i].Stdout, fmt.Sprintf("fetcher=%s\n", fetcher)...)
		}
	}
	return out
}
