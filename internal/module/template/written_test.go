package template

import (
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/moduletest"
	"github.com/skiffdeploy/skiff/internal/secret"
)

// A template's change writes the content rendered for the host, from the
// template named as its source; a secret in it changes nothing to that.
func TestWrittenIsTheRenderedContent(t *testing.T) {
	r := role(t, map[string]string{"env.tftpl": "PASSWORD=${var.pw}\n"})
	ctx := evalCtx(map[string]cty.Value{"pw": secret.Wrap(cty.StringVal("hunter2"))})
	m := moduletest.MustBuild(t, New, args(r, "env.tftpl", filepath.Join(t.TempDir(), "env"), ctx))
	if ch := moduletest.Check(t, m); ch == nil || !ch.Sensitive {
		t.Fatalf("change %+v, want a sensitive one", ch)
	}
	content, source, ok := m.(module.ContentWriter).Written()
	if want := "template " + filepath.Join(r, "templates", "env.tftpl"); !ok || string(content) != "PASSWORD=hunter2\n" || source != want {
		t.Errorf("Written() = %q, %q, %v; want the rendered content from %s", content, source, ok, want)
	}
}
