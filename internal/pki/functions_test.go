package pki_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/skiffdeploy/skiff/internal/pki"
	"github.com/skiffdeploy/skiff/internal/secret"
)

func eval(t *testing.T, ctx *hcl.EvalContext, src string) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", src, diags.Error())
	}
	return expr.Value(ctx)
}

func TestFunctionsThroughHCL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".skiff", "pki")
	ctx := &hcl.EvalContext{Functions: pki.Functions(pki.Lazy(dir))}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("building the functions created the CA (stat: %v)", err)
	}

	got, diags := eval(t, ctx, `tls_cert("web1", ["www.foobar.com", "foobar.com"], [])`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got.IsMarked() {
		t.Error("the object itself is marked; only its key should be")
	}
	cert, key := got.GetAttr("cert"), got.GetAttr("key")
	if secret.Is(cert) {
		t.Error("cert is marked sensitive")
	}
	if !key.HasMark(secret.Mark) {
		t.Error("key is not marked sensitive")
	}
	leaf := parseCert(t, []byte(cert.AsString()))
	if leaf.Subject.CommonName != "www.foobar.com" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	unmarked, _ := key.Unmark()
	if !strings.Contains(unmarked.AsString(), "PRIVATE KEY") {
		t.Error("key is not a PEM private key")
	}

	// Attribute access in templates keeps the mark.
	k, diags := eval(t, &hcl.EvalContext{
		Functions: ctx.Functions,
		Variables: map[string]cty.Value{"c": got},
	}, `c.key`)
	if diags.HasErrors() || !k.HasMark(secret.Mark) {
		t.Errorf("c.key lost its mark (diags %v)", diags)
	}

	// A rerun returns the same bytes.
	again, _ := eval(t, ctx, `tls_cert("web1", ["foobar.com", "www.foobar.com"], [])`)
	if !again.GetAttr("cert").RawEquals(cert) {
		t.Error("second tls_cert call reissued")
	}

	caCert, diags := eval(t, ctx, `tls_ca_cert()`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ca, err := pki.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if caCert.AsString() != string(ca.CertPEM()) || secret.Is(caCert) {
		t.Error("tls_ca_cert is not the CA certificate, unmarked")
	}
	if err := leaf.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Error(err)
	}

	withIP, diags := eval(t, ctx, `tls_cert("db", ["db.internal"], ["10.0.0.9"])`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if ips := parseCert(t, []byte(withIP.GetAttr("cert").AsString())).IPAddresses; len(ips) != 1 || ips[0].String() != "10.0.0.9" {
		t.Errorf("IP SANs %v", ips)
	}
}

func TestFunctionsErrors(t *testing.T) {
	failing := func() (*pki.CA, error) { return nil, errors.New("disk on fire") }
	tests := []struct {
		name string
		fns  func() (*pki.CA, error)
		src  string
		want string
	}{
		{"CA fails in tls_cert", failing, `tls_cert("x", ["a"], [])`, "tls_cert: disk on fire"},
		{"CA fails in tls_ca_cert", failing, `tls_ca_cert()`, "tls_ca_cert: disk on fire"},
		{"bad IP", nil, `tls_cert("x", ["a"], ["nope"])`, `tls_cert: certificate "x": invalid IP address "nope"`},
		{"bad name", nil, `tls_cert("../x", ["a"], [])`, "tls_cert: certificate name"},
		{"null element", nil, `tls_cert("x", ["a", null], [])`, "tls_cert: dns_names: element 1 is null"},
		{"wrong type", nil, `tls_cert("x", "a", [])`, "list of string required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns := tt.fns
			if fns == nil {
				fns = pki.Lazy(t.TempDir())
			}
			_, diags := eval(t, &hcl.EvalContext{Functions: pki.Functions(fns)}, tt.src)
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.want) {
				t.Fatalf("diags = %v, want %q", diags, tt.want)
			}
		})
	}
}

func TestFunctionsDirectCall(t *testing.T) {
	fns := pki.Functions(pki.Lazy(t.TempDir()))
	v, err := fns["tls_cert"].Call([]cty.Value{
		cty.StringVal("lb"),
		cty.ListVal([]cty.Value{cty.StringVal("lb.example")}),
		cty.ListValEmpty(cty.String),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !v.GetAttr("key").HasMark(secret.Mark) || v.GetAttr("cert").IsMarked() {
		t.Error("marks: want key sensitive, cert not")
	}

	// Unknown SANs (known only at apply) give an unknown result, no certificate.
	u, err := fns["tls_cert"].Call([]cty.Value{
		cty.StringVal("lb"),
		cty.ListVal([]cty.Value{cty.UnknownVal(cty.String)}),
		cty.ListValEmpty(cty.String),
	})
	if err != nil || u.IsKnown() {
		t.Errorf("unknown SAN: got %#v, %v; want an unknown value", u, err)
	}
}
