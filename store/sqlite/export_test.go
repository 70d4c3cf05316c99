package sqlite

// QueuedWrites reports how many Write calls wait for the writer (tests
// use it to build a batch deterministically).
func (db *DB) QueuedWrites() int {
	db.wr.mu.Lock()
	defer db.wr.mu.Unlock()
	return len(db.wr.queue)
}
