package config

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Control holds a task's meta-arguments that say how it runs rather than
// what it manages: retries, delay, tags, become_user.
type Control struct {
	// BecomeUser, when set, is the user the task runs as on the host
	// (an expression, evaluated for each host); nil leaves the play's.
	BecomeUser hcl.Expression
	// Tags select the task with --tags and --skip-tags (see TagFilter).
	Tags []string
	// Retries is how many more times a failed apply is tried (0: once
	// only). Before each retry, after Delay, the task's check runs again:
	// a task whose check then finds nothing to do stops there.
	Retries int
	// Delay is the wait before each retry (DefaultRetryDelay when unset).
	Delay    time.Duration
	delaySet bool
}

// DefaultRetryDelay is the wait between tries of a task that sets retries
// and no delay.
const DefaultRetryDelay = 5 * time.Second

// Tries bounds: a task is tried at most MaxRetries+1 times, and waits at
// most MaxRetryDelay between tries.
const (
	MaxRetries    = 100
	MaxRetryDelay = time.Hour
)

// decodeControl decodes argument n of task t (a handler when handler is
// set) when it is one of Control's; ok is false for any other argument.
func decodeControl(t *Task, handler bool, n string, a *hcl.Attribute) (diags hcl.Diagnostics, ok bool) {
	switch n {
	case "tags":
		if handler {
			return hcl.Diagnostics{errAt(a.NameRange, "Tags on a handler", "A handler runs when a task that ran notifies it, whatever the tags: give the tags to the tasks that notify it.")}, true
		}
		t.Tags, diags = decodeTags(a.Expr)
		return diags, true
	case "become_user":
		t.BecomeUser = a.Expr
		return nil, true
	case "retries":
		return decodeRetries(&t.Control, a.Expr), true
	case "delay":
		return decodeDelay(&t.Control, a.Expr), true
	}
	return nil, false
}

func decodeRetries(c *Control, expr hcl.Expression) hcl.Diagnostics {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	bad := hcl.Diagnostics{errAt(expr.Range(), "Invalid retries", fmt.Sprintf("retries is how many more times a failed task is tried: a whole number from 0 to %d, not %s.", MaxRetries, describeNumber(v)))}
	if v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.Number {
		return bad
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || n < 0 || n > MaxRetries {
		return bad
	}
	c.Retries = int(n)
	return nil
}

func decodeDelay(c *Control, expr hcl.Expression) hcl.Diagnostics {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	if v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.String {
		return hcl.Diagnostics{errAt(expr.Range(), "Invalid delay", fmt.Sprintf("delay is the wait before each retry: a duration such as \"2s\" or \"1m30s\", not %s.", describe(v)))}
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil || d < 0 || d > MaxRetryDelay {
		return hcl.Diagnostics{errAt(expr.Range(), "Invalid delay", fmt.Sprintf("delay is the wait before each retry: a duration from \"0s\" to \"1h\" such as \"2s\" or \"1m30s\", not %q.", v.AsString()))}
	}
	c.Delay, c.delaySet = d, true
	return nil
}

// describeNumber is describe, but quotes a number (it is never a secret:
// meta-arguments are literals).
func describeNumber(v cty.Value) string {
	if !v.IsNull() && v.IsWhollyKnown() && v.Type() == cty.Number {
		return v.AsBigFloat().Text('g', -1)
	}
	return describe(v)
}

// RetryDelay is the wait before each retry.
func (c Control) RetryDelay() time.Duration {
	if c.Delay == 0 && !c.delaySet {
		return DefaultRetryDelay
	}
	return c.Delay
}
