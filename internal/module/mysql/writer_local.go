package mysql

import (
	"fmt"
	"strings"

	"github.com/skiffdeploy/skiff/internal/module"
	"github.com/skiffdeploy/skiff/internal/module/shell"
)

// localState is what the replication probe says of the local server.
type localState struct {
	srv      server
	status   replicaStatus
	vars     map[string]string
	dbs      []string
	sections map[string]string
}

// readOnly reports the server's read_only (MySQL says 0/1; MariaDB ≥ 10.11
// may say OFF, ON, NO_LOCK…).
func (l localState) readOnly() bool {
	return isOn(l.vars["read_only"])
}

// replicasConnected are the addresses of the replicas whose IO thread is
// connected to this server (its binlog dump threads).
func (l localState) replicasConnected() []string {
	var out []string
	for line := range strings.SplitSeq(l.sections["vars"], "\n") {
		if a, ok := strings.CutPrefix(line, "replica_from="); ok {
			out = append(out, a)
		}
	}
	return out
}

func orNoneList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func isOn(v string) bool {
	v = strings.TrimSpace(v)
	return v != "0" && !strings.EqualFold(v, "OFF")
}

// parseLocal reads the replication probe's output. pending is set when the
// server is missing or not running.
func parseLocal(p module.Probed, secrets []string) (l localState, pending bool, err error) {
	srv, _, err := parseServer(p.Stdout, p.ExitCode)
	if err != nil {
		return l, false, err
	}
	l.srv = srv
	switch {
	case srv.notRunning():
		return l, true, nil
	case srv.state == "down":
		return l, false, srv.unreachable()
	}
	sec := shell.Sections(p.Stdout)
	l.sections = sec
	if _, ok := sec["end"]; !ok {
		return l, false, fmt.Errorf("reading the replication state failed: %s", shell.Scrub(orUnknown(sqlErrors(sec["status"]+sec["vars"])), secrets))
	}
	if e := sqlErrors(sec["status"]); e != "" {
		return l, false, fmt.Errorf("SHOW SLAVE STATUS failed: %s", shell.Scrub(e, secrets))
	}
	l.status = parseReplicaStatus(sec["status"])
	l.vars = shell.Fields([]byte(sec["vars"]))
	for line := range strings.SplitSeq(sec["vars"], "\n") {
		if db, ok := strings.CutPrefix(line, "database="); ok {
			l.dbs = append(l.dbs, db)
		}
	}
	return l, false, nil
}
