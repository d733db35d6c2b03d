package store

// GroupCommit is a store writer's loop, the same for every driver: it
// takes the requests waiting on reqs, up to max, after those the last
// batch put off, and hands them to commit as one batch, whose one
// commit (one flush) serves them all. commit answers each request but
// those it returns, which the next batch takes first. Once quit is
// closed it commits what is still queued, a request at a time, and
// returns.
func GroupCommit[R any](reqs <-chan R, quit <-chan struct{}, max int, commit func(batch []R) (putOff []R)) {
	batch := make([]R, 0, max)
	var carry []R
	for {
		batch = append(batch[:0], carry...)
		if len(batch) == 0 {
			select {
			case r := <-reqs:
				batch = append(batch, r)
			case <-quit:
				for {
					select {
					case r := <-reqs:
						for pending := []R{r}; len(pending) > 0; {
							pending = commit(pending)
						}
					default:
						return
					}
				}
			}
		}
	fill:
		for len(batch) < max {
			select {
			case r := <-reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		carry = commit(batch)
	}
}
