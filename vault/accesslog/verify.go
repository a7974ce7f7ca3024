package accesslog

import (
	"context"
	"encoding/json"
	"fmt"

	"eidp/internal/db"
)

// Verify recomputes the chain of residentID from entry 1: the seqs are
// 1, 2, 3 … without a gap, each entry's prev_hash is the previous entry's
// hash ("" for entry 1), each entry's hash is the hash of its content, and
// the head names the last entry and its hash. A resident with no entries
// and no head verifies. When the chain does not verify, the error wraps
// ErrTampered and names the first bad entry and what is wrong with it.
func (l *Log) Verify(ctx context.Context, residentID string) error {
	_, _, problems, err := l.verify(ctx, `WHERE resident_id = $1`, residentID)
	if err != nil {
		return fmt.Errorf("accesslog: verify resident %s: %w", residentID, err)
	}
	if len(problems) == 0 {
		return nil
	}
	more := ""
	if n := len(problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more problem(s))", n)
	}
	return fmt.Errorf("%w: %s%s", ErrTampered, problems[0], more)
}

// VerifyAll verifies every resident's chain as Verify does, and returns the
// number of chains (residents with entries or a head) and entries it
// checked and every problem it found, chain by chain. err is
// set only when the check itself failed (the database); a chain that does
// not verify is a Problem, not an error.
func (l *Log) VerifyAll(ctx context.Context) (chains, entries int, problems []Problem, err error) {
	chains, entries, problems, err = l.verify(ctx, "")
	if err != nil {
		return 0, 0, nil, fmt.Errorf("accesslog: verify all: %w", err)
	}
	return chains, entries, problems, nil
}

// verify streams the heads and entries matching where (applied to both
// tables) in one statement — so that it sees one consistent snapshot on
// both engines — each resident's head first, then its entries by seq, and
// checks them chain by chain.
func (l *Log) verify(ctx context.Context, where string, args ...any) (chains, entries int, problems []Problem, err error) {
	rows, err := l.db.QueryContext(ctx, `
		SELECT resident_id, 0 AS part, seq, 0 AS at, '' AS client_id, '' AS client_name,
			'[]' AS attributes, '' AS consent, '' AS request_id, '' AS prev_hash, hash
		FROM vault_access_heads `+where+`
		UNION ALL
		SELECT resident_id, 1 AS part, seq, at, client_id, client_name,
			attributes, consent, request_id, prev_hash, hash
		FROM vault_access_log `+where+`
		ORDER BY resident_id, part, seq`, args...)
	if err != nil {
		return 0, 0, nil, err
	}
	defer rows.Close()
	var c *chain
	for rows.Next() {
		var (
			e     Entry
			part  int
			at    db.Timestamp
			attrs string
		)
		if err := rows.Scan(&e.ResidentID, &part, &e.Seq, &at, &e.ClientID, &e.ClientName, &attrs,
			&e.Consent, &e.RequestID, &e.PrevHash, &e.Hash); err != nil {
			return 0, 0, nil, err
		}
		e.At = at.Time
		if c == nil || c.resident != e.ResidentID {
			if c != nil {
				problems = append(problems, c.finish()...)
			}
			c = &chain{resident: e.ResidentID}
			chains++
		}
		if part == 0 {
			c.hasHead, c.headSeq, c.headHash = true, e.Seq, e.Hash
			continue
		}
		entries++
		c.add(e, attrs)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, nil, err
	}
	if c != nil {
		problems = append(problems, c.finish()...)
	}
	return chains, entries, problems, nil
}

// chain checks one resident's chain, entry by entry. Each check stands on
// its own, so that one change is reported once: an entry whose content was
// altered (but not its stored hash) fails only its own hash check, since
// the next entry links to the stored hash; a removed entry is reported as
// a gap, not also as a broken link.
type chain struct {
	resident string
	hasHead  bool
	headSeq  int64
	headHash string
	last     *Entry // the previous entry checked; nil before the first
	problems []Problem
}

func (c *chain) problem(seq int64, format string, args ...any) {
	c.problems = append(c.problems, Problem{ResidentID: c.resident, Seq: seq, Reason: fmt.Sprintf(format, args...)})
}

// add checks e, whose attributes column held attrs, against the entry
// before it.
func (c *chain) add(e Entry, attrs string) {
	want, wantPrev := int64(1), ""
	if c.last != nil {
		want, wantPrev = c.last.Seq+1, c.last.Hash
	}
	switch {
	case e.Seq < want:
		c.problem(e.Seq, "entry %d should not exist: a chain starts at entry 1", e.Seq)
	case e.Seq == want+1:
		c.problem(want, "entry %d is missing: it was removed", want)
	case e.Seq > want:
		c.problem(want, "entries %d to %d are missing: they were removed", want, e.Seq-1)
	case e.PrevHash != wantPrev:
		if want == 1 {
			c.problem(e.Seq, "entry 1 links to a previous entry: entries before it were removed or it was replaced")
		} else {
			c.problem(e.Seq, "entry %d does not link to the hash of entry %d: one of them was replaced or altered", e.Seq, want-1)
		}
	}
	if err := json.Unmarshal([]byte(attrs), &e.Attributes); err != nil {
		c.problem(e.Seq, "the attributes of entry %d are not a JSON list of names: it was altered", e.Seq)
	} else if entryHash(e) != e.Hash {
		c.problem(e.Seq, "the content of entry %d does not match its hash: it was altered", e.Seq)
	}
	c.last = &e
}

// finish checks the head against the last entry and returns the chain's
// problems.
func (c *chain) finish() []Problem {
	switch {
	case c.last == nil:
		// A head without entries (a chain of heads only is not possible:
		// the resident appears because of one of the two).
		c.problem(c.headSeq, "the chain head names entry %d but there are no entries: they were removed", c.headSeq)
	case !c.hasHead:
		c.problem(c.last.Seq, "the chain head is missing (the newest entry is %d): it was removed", c.last.Seq)
	case c.headSeq > c.last.Seq:
		if c.headSeq == c.last.Seq+1 {
			c.problem(c.headSeq, "entry %d, the newest per the chain head, is missing: it was removed", c.headSeq)
		} else {
			c.problem(c.last.Seq+1, "entries %d to %d, the newest per the chain head, are missing: they were removed", c.last.Seq+1, c.headSeq)
		}
	case c.headSeq < c.last.Seq:
		c.problem(c.headSeq+1, "entries after %d are beyond the chain head (entry %d): they were added outside the log", c.headSeq, c.headSeq)
	case c.headHash != c.last.Hash:
		c.problem(c.headSeq, "the chain head's hash differs from the hash of entry %d: one of them was replaced", c.headSeq)
	}
	return c.problems
}
