package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// defaults are the host options of a command line that sets none but -i.
func defaults(inventory string) hostOptions {
	return hostOptions{inventory: inventory, output: "text", forks: 50, conn: connOptions{connectTimeout: 10 * time.Second}}
}

// Each command's flags parse into its options value, with no I/O: the
// arguments in, the options (or the error the command would stop on) out.
func TestParseOptions(t *testing.T) {
	web := defaults("inv.hcl")
	web.limit, web.output, web.forks = "web,!web2", "json", 5
	web.conn = connOptions{acceptNewKeys: true, connectTimeout: 3 * time.Second, verbosity: 2, askBecomePass: true}
	webFlags := []string{"-i", "inv.hcl", "-l", "web,!web2", "-ojson", "--forks", "5", "--accept-new-host-keys", "--connect-timeout", "3s", "-vv", "-K"}

	cases := []struct {
		name  string
		parse func([]string) (any, error)
		args  []string
		want  any
	}{
		{"validate", anyOf(parseValidate), []string{"-i", "inv.hcl", "site.hcl"},
			validateOptions{playbookOptions{hostOptions: defaults("inv.hcl"), playbook: "site.hcl"}}},
		{"plan", anyOf(parsePlan), append(webFlags, "site.hcl", "-e", "a=1", "-e", "b=[2]", "--var-file", "v.hcl", "--roles-path", "r", "--no-probe-helper", "--out", "p.plan", "--detailed-exitcode"),
			planOptions{playbookOptions{hostOptions: web, playbook: "site.hcl", noHelper: true, extra: []string{"a=1", "b=[2]"}, varFiles: []string{"v.hcl"}, rolesPath: []string{"r"}}, true, "p.plan"}},
		{"apply a playbook", anyOf(parseApply), []string{"-i", "inv.hcl", "site.hcl", "-y", "--no-rollback", "--revert-all"},
			applyOptions{playbookOptions{hostOptions: defaults("inv.hcl"), playbook: "site.hcl"}, true, true, true}},
		{"apply a saved plan", anyOf(parseApply), []string{"p.plan"},
			applyOptions{playbookOptions: playbookOptions{hostOptions: defaults(""), playbook: "p.plan"}}},
		{"exec", anyOf(parseExec), append(webFlags, "--", "systemctl", "is-active", "nginx"),
			execOptions{web, "systemctl is-active nginx"}},
		{"rollback", anyOf(parseRollback), []string{"-i", "inv.hcl", "--run", "20260102T120000-abcdef", "--yes"},
			rollbackOptions{defaults("inv.hcl"), "20260102T120000-abcdef", true}},
		{"runs", anyOf(parseRuns), []string{"-i", "inv.hcl", "-o", "json"}, runsOptions{"inv.hcl", "json"}},
		{"lock status", anyOf(parseLockStatus), webFlags, lockOptions{hostOptions: web}},
		{"lock release", anyOf(parseLockRelease), []string{"-i", "inv.hcl", "--limit", "web1", "--yes"},
			lockOptions{hostOptions{inventory: "inv.hcl", limit: "web1", output: "text", forks: 50, conn: connOptions{connectTimeout: 10 * time.Second}}, true}},
		{"inventory", anyOf(parseInventory), []string{"-i", "inv.hcl", "--host", "web1"}, inventoryOptions{defaults("inv.hcl"), "web1"}},
		{"version", anyOf(parseVersion), []string{"--output=json"}, versionOptions{"json"}},
	}
	for _, c := range cases {
		got, err := c.parse(c.args)
		if err != nil {
			t.Errorf("%s %q: %v", c.name, c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", c.name, c.args, got, c.want)
		}
	}
}

// What a command line gets wrong is an error of the parse, before any
// file is read or host reached.
func TestParseRefuses(t *testing.T) {
	cases := []struct {
		name  string
		parse func([]string) (any, error)
		args  []string
		want  string
	}{
		{"no playbook", anyOf(parsePlan), []string{"-i", "inv.hcl"}, "accepts 1 arg(s), received 0"},
		{"two playbooks", anyOf(parseApply), []string{"a.hcl", "b.hcl"}, "accepts 1 arg(s), received 2"},
		{"output yaml", anyOf(parseValidate), []string{"-i", "inv.hcl", "site.hcl", "-o", "yaml"}, `--output must be text or json, not "yaml"`},
		{"lock output yaml", anyOf(parseLockStatus), []string{"-i", "inv.hcl", "-o", "yaml"}, "--output must be text or json"},
		{"version output yaml", anyOf(parseVersion), []string{"-o", "yaml"}, "--output must be text or json"},
		{"exec without a command", anyOf(parseExec), []string{"-i", "inv.hcl"}, "requires at least 1 arg(s)"},
		{"rollback takes no argument", anyOf(parseRollback), []string{"-i", "inv.hcl", "ID"}, `unknown command "ID"`},
		{"runs takes no --limit", anyOf(parseRuns), []string{"-i", "inv.hcl", "--limit", "web"}, "unknown flag: --limit"},
		{"forks not a number", anyOf(parseExec), []string{"--forks", "many", "--", "true"}, `invalid argument "many"`},
		{"validate takes no --yes", anyOf(parseValidate), []string{"-i", "inv.hcl", "site.hcl", "--yes"}, "unknown flag: --yes"},
	}
	for _, c := range cases {
		if _, err := c.parse(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: err = %v, want %q", c.name, c.args, err, c.want)
		}
	}
}

// A command runs its action with exactly the options its parse returns.
func TestCommandRunsWithTheParsedOptions(t *testing.T) {
	args := []string{"-i", "inv.hcl", "--limit", "web", "-v", "--", "uptime", "-p"}
	want, err := parseExec(args)
	if err != nil {
		t.Fatal(err)
	}
	var got execOptions
	cmd := command(defineExec, func(_ context.Context, o execOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ran with %+v, parsed %+v", got, want)
	}
}

func anyOf[O any](parse func([]string) (O, error)) func([]string) (any, error) {
	return func(args []string) (any, error) { return parse(args) }
}

// -K reads the sudo password before anything else in every command that
// takes it, those that reach no host included: without a terminal and
// without $SKIFF_BECOME_PASSWORD, each one stops there.
func TestAskBecomePassWithoutAPasswordStops(t *testing.T) {
	t.Setenv(becomePasswordEnv, "")
	inv := siteWithRuns(t)
	for _, args := range [][]string{
		{"inventory", "-K", "-i", inv},
		{"validate", "-K", "-i", inv, "site.hcl"},
		{"lock", "status", "-K", "-i", inv},
		{"exec", "-K", "-i", inv, "--", "true"},
	} {
		code, _, stderr := skiffMain(t, args...)
		if code != 1 || !strings.Contains(stderr, "--ask-become-pass: no terminal to ask the sudo password on") {
			t.Errorf("skiff %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}
