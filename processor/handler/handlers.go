package handler

// Builtin returns the registry the processor runs with. Add your business
// logic here, one Register call per source and event type, e.g.:
//
//	r.Register("github", "push", Func(func(ctx context.Context, tx Tx, ev *Event) error {
//		if _, err := tx.ExecContext(ctx, "INSERT INTO pushes (...) VALUES (...)", ...); err != nil {
//			return err // retried with backoff, then dead-lettered
//		}
//		return Default.Handle(ctx, tx, ev) // keep the entity state too
//	}))
//
// Handlers must be deterministic given the event and the database: an event
// may be handled more than once in rolled-back transactions before one
// commits.
func Builtin() *Registry {
	r := NewRegistry()
	return r
}
