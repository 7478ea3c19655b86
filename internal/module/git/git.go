// Package git is the "git" task kind: a clone on the host, checked out at
// a branch, a tag or a commit. The probe resolves the version to a commit
// (git ls-remote, from the host), so the plan shows the commit the clone
// moves from and to. The clone is root's: skiff runs git as root only in
// a repository root owns (a repository another user owns could run that
// user's commands through its config).
//
//	task "git" "app" {
//	  repo    = "https://git.example.org/app.git"
//	  path    = "/opt/app/src"
//	  version = "v1.4.0"
//	  depth   = 1
//	}
package git

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/filestate"
	"github.com/skiffdeploy/skiff/internal/module/shell"
	"github.com/skiffdeploy/skiff/internal/plan"
	"github.com/skiffdeploy/skiff/internal/transport"
)

var (
	commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// A ref name as git check-ref-format accepts, roughly: no blanks,
	// no leading '-', none of ~^:?*[\ and no "..".
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9_./+@-]+$`)
)

// env is the environment every git command runs with: never a prompt
// (the probe and apply have no terminal), never an index write from a
// read.
const env = "GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 GIT_SSH_COMMAND='ssh -o BatchMode=yes'"

// Git is one git task.
type Git struct {
	repo, path, version string
	depth               int

	// learned by Check, used by Apply and Reversal
	want  string // the commit to check out
	head  string // the clone's commit before, "" for a new clone
	fresh bool   // no clone yet: clone
	empty bool   // the folder was there, empty
}

var (
	_ module.Module     = (*Git)(nil)
	_ module.Reversible = (*Git)(nil)
)

// New is the module.Factory of the "git" kind.
func New(a *module.Args) module.Module {
	a.RejectSensitive("repo", "path", "version")
	g := &Git{repo: a.String("repo", true), path: filestate.PathArg(a, "path"), version: a.StringDefault("version", "HEAD"), depth: a.Int("depth", 0)}
	switch {
	case a.Unknown("repo") || g.repo == "":
	case strings.HasPrefix(g.repo, "-") || strings.ContainsAny(g.repo, " \t\r\n\x00"):
		a.Errorf("repo", "repo must be a URL or a path, not %q.", g.repo)
		g.repo = ""
	case hasPassword(g.repo):
		a.Errorf("repo", "repo must not hold a password: it is shown in plans and logs, and stays in the clone's config. Use a deploy key, or a credential helper on the host.")
		g.repo = ""
	}
	if !a.Unknown("version") && (!versionPattern.MatchString(g.version) || strings.HasPrefix(g.version, "-") || strings.Contains(g.version, "..")) {
		a.Errorf("version", "version must be a branch, a tag or a full commit id, not %q.", g.version)
		g.version = ""
	}
	if g.depth < 0 {
		a.Errorf("depth", "depth must be 0 (the whole history) or more.")
	}
	if g.path == "/" {
		a.Errorf("path", "path must not be /.")
		g.path = ""
	}
	return g
}

// hasPassword reports whether the URL u carries a password.
func hasPassword(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return false
	}
	_, ok := p.User.Password()
	return ok
}

func (g *Git) ready() bool { return g.repo != "" && g.path != "" && g.version != "" }

// Probe prints "git_missing=1" when the host has no git; the folder's
// state ("dest=absent|empty|repo|other|symlink"); for a clone, the
// owner of its .git ("git_owner=UID"), its commit ("head=…"), its
// origin ("origin=…") and "dirty=1" when tracked files changed; then,
// unless version is a commit id, git ls-remote's exit code ("ls_exit=N")
// and output after a "[ls-remote]" line.
func (g *Git) Probe() string {
	if !g.ready() {
		return ""
	}
	var b strings.Builder
	b.WriteString("command -v git >/dev/null 2>&1 || { echo git_missing=1; exit 0; }\n")
	fmt.Fprintf(&b, "export %s\n", env)
	fmt.Fprintf(&b, "p=%s\n", shell.Quote(g.path))
	b.WriteString(`if [ -L "$p" ]; then d=symlink; elif [ -d "$p/.git" ] && [ ! -L "$p/.git" ]; then d=repo; elif [ -d "$p" ]; then if [ -z "$(ls -A -- "$p" 2>/dev/null)" ]; then d=empty; else d=other; fi; elif [ -e "$p" ]; then d=other; else d=absent; fi` + "\n")
	b.WriteString("echo \"dest=$d\"\n")
	b.WriteString("if [ \"$d\" = repo ]; then\n")
	b.WriteString("  o=$(stat -c %u -- \"$p\" \"$p/.git\" | sort -u | tr '\\n' ' '); echo \"git_owner=${o% }\"\n")
	b.WriteString("  if [ \"${o% }\" = 0 ] && cd -- \"$p\"; then\n")
	b.WriteString("    h=$(git rev-parse --verify -q HEAD) && echo \"head=$h\"\n")
	b.WriteString("    echo \"origin=$(git config --get remote.origin.url)\"\n")
	b.WriteString("    [ -n \"$(git status --porcelain --untracked-files=no 2>/dev/null | head -n 1)\" ] && echo dirty=1\n")
	b.WriteString("    cd /\n")
	b.WriteString("  fi\n")
	b.WriteString("fi\n")
	if !commitPattern.MatchString(g.version) {
		// The second pattern lists an annotated tag's commit.
		fmt.Fprintf(&b, "out=$(git ls-remote -- %s %s %s </dev/null); echo \"ls_exit=$?\"\n", shell.Quote(g.repo), shell.Quote(g.version), shell.Quote(g.version+"^{}"))
		b.WriteString("echo '[ls-remote]'; printf '%s\\n' \"$out\"\n")
	}
	return b.String()
}

// Resolve finds version's commit in git ls-remote's output, as git
// itself would name it: a full ref name as it is; else a tag (its commit,
// for an annotated one) before a branch of that name; "HEAD" is the
// remote's default branch.
func Resolve(lsRemote, version string) (string, bool) {
	refs := map[string]string{}
	for _, line := range strings.Split(lsRemote, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && commitPattern.MatchString(f[0]) {
			refs[f[1]] = f[0]
		}
	}
	for _, ref := range []string{version + "^{}", version, "refs/tags/" + version + "^{}", "refs/tags/" + version, "refs/heads/" + version} {
		if c, ok := refs[ref]; ok {
			return c, true
		}
	}
	return "", false
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// Check compares the clone's commit with the version's.
func (g *Git) Check(p module.Probed) (*module.Change, error) {
	g.want, g.head, g.fresh, g.empty = "", "", false, false
	if !g.ready() {
		return nil, fmt.Errorf("git: the task's arguments are not usable")
	}
	head, ls, _ := bytes.Cut(p.Stdout, []byte("\n[ls-remote]\n"))
	f := shell.Fields(head)
	if f["git_missing"] == "1" {
		return nil, fmt.Errorf("%s: the host has no git: install it in an earlier play", g.path)
	}
	if commitPattern.MatchString(g.version) {
		g.want = g.version
	} else {
		if f["ls_exit"] != "0" {
			return nil, fmt.Errorf("%s: git ls-remote %s failed on the host (exit %s): cannot resolve %s", g.path, g.repo, f["ls_exit"], g.version)
		}
		c, ok := Resolve(string(ls), g.version)
		if !ok {
			return nil, fmt.Errorf("%s: %s has no branch or tag %s", g.path, g.repo, g.version)
		}
		g.want = c
	}
	at := g.version
	if at != g.want {
		at += " (" + short(g.want) + ")"
	}
	switch f["dest"] {
	case "absent", "empty":
		g.fresh, g.empty = true, f["dest"] == "empty"
		s := fmt.Sprintf("clone %s at %s into %s", g.repo, at, g.path)
		if f["dest"] == "empty" {
			s += " (an empty folder)"
		}
		return &module.Change{Action: plan.Create, Summary: s}, nil
	case "repo":
	case "symlink":
		return nil, fmt.Errorf("%s is a symbolic link, not a clone: skiff does not follow it", g.path)
	case "other":
		return nil, fmt.Errorf("%s holds files that are not a clone: choose a new or empty folder", g.path)
	default:
		return nil, fmt.Errorf("%s: the probe printed no folder state", g.path)
	}
	if o := f["git_owner"]; o != "0" {
		return nil, fmt.Errorf("%s is a clone owned by uid %s, not root: skiff runs git as root only in a clone root owns (another user's could run that user's commands through its config)", g.path, o)
	}
	g.head = f["head"]
	if o := f["origin"]; o != g.repo {
		return nil, fmt.Errorf("%s is a clone of %q, not of %s: skiff does not change a clone's origin", g.path, o, g.repo)
	}
	if g.head == g.want {
		return nil, nil
	}
	if f["dirty"] == "1" {
		return nil, fmt.Errorf("%s has local changes to tracked files: skiff does not discard them (commit, stash or reset them first)", g.path)
	}
	from := short(g.head)
	if from == "" {
		from = "no commit"
	}
	return &module.Change{Action: plan.Update, Summary: fmt.Sprintf("move %s from %s to %s at %s", g.path, from, short(g.want), at)}, nil
}

// fetchScript fetches the version (or the commit) into the repository in
// the current folder and checks out the planned commit, detached; it
// fails when that commit is not what the version names any more.
func (g *Git) fetchScript() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export %s\n", env)
	depth := ""
	if g.depth > 0 {
		depth = fmt.Sprintf(" --depth %d", g.depth)
	}
	fmt.Fprintf(&b, "git fetch -q%s origin -- %s </dev/null || exit 1\n", depth, shell.Quote(g.version))
	fmt.Fprintf(&b, "git -c advice.detachedHead=false checkout -q --detach %s </dev/null || { printf '%%s\\n' %s >&2; exit 1; }\n",
		shell.Quote(g.want), shell.Quote("skiff: "+g.version+" no longer names "+g.want+" at "+g.repo+": plan again"))
	fmt.Fprintf(&b, "[ \"$(git rev-parse HEAD)\" = %s ] || { printf '%%s\\n' %s >&2; exit 1; }\n", shell.Quote(g.want), shell.Quote("skiff: the checkout is not at "+g.want))
	return b.String()
}

// Apply clones into a private folder beside path and renames the clone
// into place (see filestate.ReplaceDirScript), or, for a clone already
// there, entered without following any link another user could plant,
// fetches and checks out the planned commit.
func (g *Git) Apply(ctx context.Context, t transport.Transport) error {
	if g.fresh {
		fill := fmt.Sprintf("git init -q ./new </dev/null && cd ./new && git remote add origin -- %s || exit 1\n(\n%s) || exit 1\ncd ..\n",
			shell.Quote(g.repo), g.fetchScript())
		return shell.Run(ctx, t, "clone "+g.repo+" into "+g.path, "umask 022\n"+filestate.ReplaceDirScript(g.path, fill), nil)
	}
	return shell.Run(ctx, t, "check out "+short(g.want)+" in "+g.path, g.inRepo(g.fetchScript()), nil)
}

// inRepo runs script inside the clone, entered as skiff_enter does, after
// checking root still owns it.
func (g *Git) inRepo(script string) string {
	var b strings.Builder
	b.WriteString(filestate.EnterScript)
	fmt.Fprintf(&b, "skiff_enter %s || exit 1\n", shell.Quote(g.path))
	b.WriteString("[ \"$(stat -c %u . .git | sort -u)\" = 0 ] && [ ! -L .git ] || { printf '%s\\n' \"skiff: $(pwd -P) is not a clone root owns: git not run\" >&2; exit 1; }\n")
	b.WriteString(script)
	return b.String()
}

// Reversal implements module.Reversible: a new clone is removed (an
// empty folder, root's, 0755, takes the place of one that was empty); a
// clone that moved is checked out at its previous commit again
// (detached), which it still has.
func (g *Git) Reversal(dir string) (backup, undo, after string) {
	if !g.ready() {
		return "", "", ""
	}
	switch {
	case g.empty:
		return "", "(\n" + filestate.ReplaceDirScript(g.path, "mkdir -m 755 ./new || exit 1\n") + ") || exit 1\n", ""
	case g.fresh:
		return "", "(\n" + filestate.RemoveDirScript(g.path) + ") || exit 1\n", ""
	case g.head == "":
		return "", "", "" // a clone without a commit: nothing to go back to
	}
	undo = g.inRepo(fmt.Sprintf("export %s\ngit -c advice.detachedHead=false checkout -q --detach %s </dev/null || exit 1\n", env, shell.Quote(g.head)))
	return "", "(\n" + undo + ") || exit 1\n", ""
}
