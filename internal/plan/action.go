package plan

// Action is the kind of a change, as printed in JSON.
type Action string

const (
	Create Action = "create" // + a thing that did not exist
	Update Action = "update" // ~ a thing that exists, changed
	Delete Action = "delete" // - a thing removed
	Run    Action = "run"    // ! a command or service operation
	Undo   Action = "undo"   // < a recorded change undone by a rollback
)

// Symbol is the one-character marker of the action in text output.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	case Undo:
		return "<"
	default:
		return "!"
	}
}
