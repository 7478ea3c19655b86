package plan

// Action is the kind of a change, as printed in JSON.
type Action string

const (
	Create Action = "create" // + a thing that did not exist
	Update Action = "update" // ~ a thing that exists, changed
	Delete Action = "delete" // - a thing removed
	Run    Action = "run"    // ! a command or service operation
	Undo   Action = "undo"   // < a recorded change undone by a rollback
	// Forget: . an instance of a task with for_each that left its
	// for_each: skiff no longer manages it and leaves it as it is.
	Forget Action = "forget"
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
	case Forget:
		return "."
	default:
		return "!"
	}
}
