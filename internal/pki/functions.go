package pki

import (
	"fmt"
	"sync"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/skiffdeploy/skiff/internal/secret"
)

// certObjectType is the type tls_cert returns: the leaf certificate PEM and
// its private key PEM; the key value carries secret.Mark.
func certObjectType() cty.Type {
	return cty.Object(map[string]cty.Type{"cert": cty.String, "key": cty.String})
}

// Lazy returns a func that opens the CA in dir on its first call and then
// returns the same result; pass it to Functions so that a command that never
// calls the TLS functions creates no CA.
func Lazy(dir string) func() (*CA, error) {
	return sync.OnceValues(func() (*CA, error) { return Open(dir) })
}

// Functions returns the HCL functions backed by the CA that ca opens:
//
//	tls_ca_cert()                    the CA certificate PEM
//	tls_cert(name, dns_names, ips)   { cert = leaf PEM, key = key PEM (sensitive) }
//
// ca is called only when a function is called, at each call; Lazy makes it
// open the CA once.
func Functions(ca func() (*CA, error)) map[string]function.Function {
	return map[string]function.Function{
		"tls_ca_cert": caCertFunction(ca),
		"tls_cert":    certFunction(ca),
	}
}

func caCertFunction(ca func() (*CA, error)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the PEM certificate of skiff's local CA, which clients must trust.",
		Params:      []function.Parameter{},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(_ []cty.Value, _ cty.Type) (cty.Value, error) {
			c, err := ca()
			if err != nil {
				return cty.NilVal, fmt.Errorf("tls_ca_cert: %w", err)
			}
			return cty.StringVal(string(c.CertPEM())), nil
		},
	})
}

func certFunction(ca func() (*CA, error)) function.Function {
	return function.New(&function.Spec{
		Description: "Issues (or returns the kept) server certificate NAME from skiff's local CA for the DNS names and IPs given: an object { cert, key } whose key is sensitive.",
		Params: []function.Parameter{
			{Name: "name", Type: cty.String, Description: "Name the certificate is kept under in .skiff/pki/issued/."},
			{Name: "dns_names", Type: cty.List(cty.String), Description: "DNS names to certify; the first is the CN."},
			{Name: "ips", Type: cty.List(cty.String), Description: "IP addresses to certify; may be empty."},
		},
		Type: function.StaticReturnType(certObjectType()),
		Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
			// A list with unknown elements (known only at apply) gives an
			// unknown result rather than a certificate for part of it.
			if !args[1].IsWhollyKnown() || !args[2].IsWhollyKnown() {
				return cty.UnknownVal(retType), nil
			}
			name := args[0].AsString()
			dns, err := stringList(args[1])
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(1, "tls_cert: dns_names: %s", err)
			}
			ips, err := stringList(args[2])
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(2, "tls_cert: ips: %s", err)
			}
			c, err := ca()
			if err != nil {
				return cty.NilVal, fmt.Errorf("tls_cert: %w", err)
			}
			certPEM, keyPEM, err := c.Issue(name, dns, ips)
			if err != nil {
				return cty.NilVal, fmt.Errorf("tls_cert: %w", err)
			}
			return cty.ObjectVal(map[string]cty.Value{
				"cert": cty.StringVal(string(certPEM)),
				"key":  secret.Wrap(cty.StringVal(string(keyPEM))),
			}), nil
		},
	})
}

// stringList converts a known list(string) value; null elements are errors.
func stringList(v cty.Value) ([]string, error) {
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			return nil, fmt.Errorf("element %d is null", len(out))
		}
		out = append(out, e.AsString())
	}
	return out, nil
}
