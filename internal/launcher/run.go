package launcher

import (
	"context"
	"fmt"
	"time"
)

// Run runs c to its end. When ctx ends first the process is stopped (Stop(grace)) and the error
// wraps ctx's.
func Run(ctx context.Context, c Command, grace time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := Start(c)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.Stop(grace)
		return fmt.Errorf("%s stopped (%s): %w", p.name, p.state(), context.Cause(ctx))
	}
}
