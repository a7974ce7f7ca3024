package seed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"eidp/bench/seed/population"
	"eidp/idp/account"
	"eidp/signing/ca"
)

// issueCertificates gives every resident of the batch a valid signing
// certificate: first, one by one, it raises a resident below level high
// (account.Store.SetLevel, which records the change in their activity
// log, as an operator's decision after attended proofing would) and
// checks for a valid certificate; then it issues the missing ones,
// workers at a time, as the enrolment page does (ca.Authority.Issue with
// the register's names: a P-256 key generated in the key backend and kept
// wrapped under the signing-kek key). It returns how many it issued and
// the wall time of that second step alone.
func issueCertificates(ctx context.Context, authority *ca.Authority, accounts *account.Store, workers int,
	batch []population.Resident) (int, time.Duration, error) {
	var missing []ca.IssueRequest
	for _, r := range batch {
		resident, err := accounts.Get(ctx, r.ID)
		if err != nil {
			return 0, 0, fmt.Errorf("seed: resident %d: %w", r.Index, err)
		}
		if resident.Level != ca.LevelHigh {
			if err := accounts.SetLevel(ctx, r.ID, ca.LevelHigh); err != nil {
				return 0, 0, fmt.Errorf("seed: resident %d: %w", r.Index, err)
			}
		}
		_, err = authority.Current(ctx, r.ID)
		switch {
		case err == nil:
			continue
		case !errors.Is(err, ca.ErrNoCertificate):
			return 0, 0, fmt.Errorf("seed: certificate of resident %d: %w", r.Index, err)
		}
		missing = append(missing, ca.IssueRequest{ResidentID: r.ID, GivenName: resident.GivenNames,
			FamilyName: resident.Surname, Level: ca.LevelHigh})
	}
	if len(missing) == 0 {
		return 0, 0, nil
	}

	var (
		mu     sync.Mutex
		issued int
		first  error
		wg     sync.WaitGroup
		work   = make(chan ca.IssueRequest)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range min(workers, len(missing)) {
		wg.Go(func() {
			for req := range work {
				_, err := authority.Issue(ctx, req)
				mu.Lock()
				if err == nil {
					issued++
				} else if first == nil {
					first = fmt.Errorf("seed: issue a certificate: %w", err)
					cancel()
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, req := range missing {
		select {
		case work <- req:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return issued, took, first
}
