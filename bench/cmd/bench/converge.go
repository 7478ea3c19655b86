package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiffdeploy/skiff/integration/sumostandin/debbuild"
	"github.com/skiffdeploy/skiff/integration/testhosts"
)

// The first converge's floor (issue 18, point 4): the same packages
// installed and the same large files copied by a plain script, on fresh
// site hosts, with none of the checks, configuration, certificates or
// replication that skiff (and Ansible) do.

const convergeHeading = "## First converge against a plain script"

// floorPackages is what each group's roles install with apt, as
// playbooks/site.hcl does (the sumo role's local package on every host).
var floorPackages = [][2]string{
	{"all", "ufw"},
	{"lb", "haproxy"},
	{"web", "nginx"},
	{"db_primary", "mariadb-server mariadb-client"},
	{"db_replica", "mariadb-server mariadb-client"},
}

// convergeFloorArgs is the floor's argv for a first converge of the site
// with inventory inv: one apt-get transaction per host, the collector's
// package and the app's binary copied.
func (b *bench) convergeFloorArgs(ctx context.Context, inv string) ([]string, error) {
	deb, err := debbuild.Build(ctx, filepath.Join(b.dir, "floor-deb"))
	if err != nil {
		return nil, err
	}
	argv := []string{b.floor, "-i", inv,
		"-upload", "all=" + deb + ":/tmp/floor-sumocollector.deb",
		"-upload", "web=" + filepath.Join(b.root, "bin", "foobar-app") + ":/tmp/floor-foobar-app",
		"-run", "all=pkgs=/tmp/floor-sumocollector.deb",
	}
	for _, p := range floorPackages {
		argv = append(argv, "-run", fmt.Sprintf(`%s=pkgs="$pkgs %s"`, p[0], p[1]))
	}
	return append(argv,
		"-run", "all=DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $pkgs </dev/null >/dev/null",
		"-run", "web=install -D -m 0755 /tmp/floor-foobar-app /opt/foobar/releases/1.0.0/foobar-app",
	), nil
}

// freshFirstConverge starts the site's hosts afresh, runs argv(inventory)
// on them once, and removes them.
func (b *bench) freshFirstConverge(ctx context.Context, what, logName string, argv func(inv string) ([]string, error)) (measurement, error) {
	names, groups := testhosts.SiteHosts()
	dir := filepath.Join(b.dir, logName+"-hosts")
	logf("starting %d fresh hosts for %s", len(names), what)
	c, err := testhosts.Start(ctx, testhosts.Options{Prefix: testhosts.UniquePrefix("skiff-bench-first"), Hosts: names, Dir: dir, Logf: logf})
	if c != nil {
		defer func() {
			if err := c.Close(); err != nil {
				logf("removing the hosts: %v", err)
			}
		}()
	}
	if err != nil {
		return measurement{}, err
	}
	extra, err := c.SiteSettings(ctx, b.root, dir, "")
	if err != nil {
		return measurement{}, err
	}
	inv := filepath.Join(dir, "inventory.hcl")
	if err := c.WriteInventory(inv, groups, extra); err != nil {
		return measurement{}, err
	}
	args, err := argv(inv)
	if err != nil {
		return measurement{}, err
	}
	// The run's hosts' CPU is read from b.c's containers.
	saved := b.c
	b.c = c
	defer func() { b.c = saved }()
	logf("first converge: %s", what)
	m, err := b.once(ctx, logName+".log", args...)
	if err != nil {
		return m, err
	}
	if m.exit != 0 {
		return m, fmt.Errorf("first converge by %s failed (exit %d):\n%s", what, m.exit, tail(m.log, 40))
	}
	return m, nil
}

func (b *bench) convergeFloor(ctx context.Context) (measurement, error) {
	return b.freshFirstConverge(ctx, "the plain script", "floor-first-converge", func(inv string) ([]string, error) {
		return b.convergeFloorArgs(ctx, inv)
	})
}

type convergeResults struct {
	started time.Time
	commit  string
	skiff   series
	floor   series
}

// convergeOnly takes b.runs rounds of a first converge by the plain script
// and by skiff, each on fresh hosts, and writes their section.
func (b *bench) convergeOnly(ctx context.Context, out, commit string) error {
	r := &convergeResults{started: time.Now(), commit: commit}
	for i := range b.runs {
		logf("first converges, round %d of %d", i+1, b.runs)
		f, err := b.convergeFloor(ctx)
		if err != nil {
			return err
		}
		s, err := b.freshFirstConverge(ctx, "skiff apply "+playbook, "skiff-first-converge", func(inv string) ([]string, error) {
			return []string{b.skiff, "apply", "-i", inv, playbook, "--yes"}, nil
		})
		if err != nil {
			return err
		}
		r.floor.list = append(r.floor.list, f)
		r.skiff.list = append(r.skiff.list, s)
	}
	return b.writeSection(out, "first converge", r.markdown())
}

func (r *convergeResults) markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s\n\n", convergeHeading)
	fmt.Fprintf(&s, "Measured %s UTC (skiff %s) by `go run ./bench/cmd/bench -only converge -n %d`: %d rounds of a first converge of the site's 4 hosts, each on fresh hosts, by the plain script and by `skiff apply --yes`. ",
		r.started.UTC().Format("2006-01-02 15:04"), r.commit, len(r.skiff.list), len(r.skiff.list))
	s.WriteString("The plain script is bench/floor with -upload and -run: on each host at once, the collector's package and (on the web servers) the app's binary copied, then one `apt-get install` of the packages the host's roles install. ")
	s.WriteString("It configures nothing: no files, certificates, firewall rules, databases or replication, so no tool doing the site's work reaches it.\n\n")
	s.WriteString("| | median | min | max |\n|---|---|---|---|\n")
	row := func(name string, st stat, unit string) {
		fmt.Fprintf(&s, "| %s | %.2f%s | %.2f%s | %.2f%s |\n", name, st.med, unit, st.min, unit, st.max, unit)
	}
	row("plain script", r.floor.wall(), " s")
	row("`skiff apply --yes`", r.skiff.wall(), " s")
	row("**skiff / plain script**", ratio(r.skiff, r.floor), "×")
	row("hosts' CPU, plain script", r.floor.hostCPU(), " s")
	row("hosts' CPU, skiff", r.skiff.hostCPU(), " s")
	s.WriteString("\n")
	return s.String()
}
