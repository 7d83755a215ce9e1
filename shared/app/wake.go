package app

import (
	"context"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Wake handles a job's finished wake-up, which anyone may send: it is answered at once and carries
// no authority. The id is checked and, for an active deliberation, a follow-up runs in the
// background (followWake); unknown ids, finished deliberations and forged wake-ups change nothing.
// One follow-up per deliberation runs at a time across replicas (the wake marker, held WakeWait).
func (s *Service) Wake(ctx context.Context, id string) error {
	if !deliberation.ValidID(id) {
		return nil
	}
	d, err := s.Store.Get(ctx, id)
	if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Status.Terminal() {
		return nil
	}
	if claimed, err := s.Store.ClaimCheck(ctx, "wake:"+id, s.Settings.WakeWait); err != nil || !claimed {
		return err
	}
	// The job gives up on its wake-up after a short timeout, and only then can its driver exit and
	// Ray report the job terminal: the follow-up must outlive the request that started it.
	s.pending.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Settings.WakeWait)
		defer cancel()
		s.followWake(ctx, d)
	})
	return nil
}

// followWake asks Ray about d's job until it reports the job terminal, then records what Ray says.
// Each question first claims a marker of WakePoll, so wake-ups cost Ray at most one status query
// per deliberation per WakePoll across replicas, however many are sent, even where two follow-ups
// overlap at the edges of their wake markers.
func (s *Service) followWake(ctx context.Context, d deliberation.Deliberation) {
	for {
		if claimed, err := s.Store.ClaimCheck(ctx, "wake-poll:"+d.ID, s.Settings.WakePoll); err == nil && claimed {
			if st, err := s.Ray.Status(ctx, d.SubmissionID); err == nil && st.State.Terminal() {
				s.apply(ctx, d, st, nil)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Settings.WakePoll):
		}
	}
}
