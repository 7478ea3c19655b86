package plan

import (
	"fmt"
	"io"
	"strings"

	"github.com/skiffdeploy/skiff/internal/jsondoc"
)

// WriteJSON prints p as one indented JSON document (see jsondoc.WriteJSON).
func WriteJSON(w io.Writer, p *Plan) error {
	return jsondoc.WriteJSON(w, p)
}

// WriteText prints p for humans: per host, each change with its marker and,
// for files, its diff indented beneath.
func WriteText(w io.Writer, p *Plan) {
	verb := "would change"
	if p.Mode == "apply" {
		verb = "changed"
	}
	for _, h := range p.Hosts {
		switch {
		case h.Status == StatusUnreachable:
			fmt.Fprintf(w, "%s (%s): UNREACHABLE: %s\n", h.Name, h.Address, h.Error)
			continue
		case len(h.Changes) == 0 && h.Error == "":
			fmt.Fprintf(w, "%s (%s): no changes\n", h.Name, h.Address)
			continue
		}
		fmt.Fprintf(w, "%s (%s): %s %d\n", h.Name, h.Address, verb, len(h.Changes))
		for _, c := range h.Changes {
			fmt.Fprintf(w, "  %s %s/%s %s: %s%s\n", c.Action.Symbol(), c.Play, c.Role, c.Task, c.Summary, triesNote(c))
			if c.Sensitive {
				fmt.Fprintf(w, "      (diff hidden: content is sensitive)\n")
			}
			if c.Diff != "" {
				for _, line := range strings.Split(strings.TrimRight(c.Diff, "\n"), "\n") {
					fmt.Fprintf(w, "      %s\n", line)
				}
			}
		}
		if h.Error != "" {
			fmt.Fprintf(w, "  FAILED: %s\n", h.Error)
		}
	}
}

// WriteRecap prints one line per host with counts, then the totals.
func WriteRecap(w io.Writer, p *Plan) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "RECAP")
	width := 0
	for _, h := range p.Hosts {
		if len(h.Name) > width {
			width = len(h.Name)
		}
	}
	for _, h := range p.Hosts {
		fmt.Fprintf(w, "  %-*s  %-11s tasks=%d changes=%d\n", width, h.Name, h.Status, h.Tasks, len(h.Changes))
		for _, c := range h.Changes {
			if c.Tries > 0 {
				fmt.Fprintf(w, "  %-*s    %s/%s %s: %s\n", width, "", c.Play, c.Role, c.Task, tries(c.Tries))
			}
		}
	}
	s := p.Summary
	fmt.Fprintf(w, "hosts: %d ok, %d changed, %d failed, %d unreachable\n", s.OK, s.Changed, s.Failed, s.Unreachable)
}

// triesNote is what a change's line says of its tries: nothing for a task
// that sets no retries.
func triesNote(c Change) string {
	if c.Tries == 0 {
		return ""
	}
	return " (" + tries(c.Tries) + ")"
}

func tries(n int) string {
	if n == 1 {
		return "took 1 try"
	}
	return fmt.Sprintf("took %d tries", n)
}
