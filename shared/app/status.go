package app

import (
	"context"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Status answers where a deliberation stands. A non-terminal one is checked against Ray (at most
// once per CheckPeriod across replicas); while Ray is unreachable the last known state answers.
// An id the store does not hold answers a not_found report, not an error.
func (s *Service) Status(ctx context.Context, id string) (StatusReport, error) {
	if err := deliberation.CheckID(id); err != nil {
		return StatusReport{}, err
	}
	d, err := s.Store.Get(ctx, id)
	if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
		return NotFoundReport(id), nil
	}
	if err != nil {
		return StatusReport{}, err
	}
	if d.Status.Terminal() {
		return ReportOf(d), nil
	}
	claimed, err := s.Store.ClaimCheck(ctx, id, s.Settings.CheckPeriod)
	if err != nil {
		return StatusReport{}, err
	}
	if claimed {
		d = s.advance(ctx, d)
	}
	return ReportOf(d), nil
}
