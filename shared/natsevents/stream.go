package natsevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// stream makes sure the stream exists before the first publish of a connection. It creates a
// missing stream and never updates an existing one: operators may have tuned it (replicas,
// limits), and a publisher that rewrote it on every start would undo their work.
type stream struct {
	opt Options
	log *slog.Logger

	mu    sync.Mutex
	ready bool
}

// forget makes the next publish check again: the server may have come back without the stream.
func (s *stream) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = false
}

func (s *stream) ensure(ctx context.Context, js jetstream.JetStream) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	existing, err := js.Stream(ctx, s.opt.Stream)
	switch {
	case err == nil:
		if w := existing.CachedInfo().Config.Duplicates; w < MinDuplicateWindow {
			s.log.Warn("the existing stream's duplicate window is shorter than the spec's; left as it is",
				"stream", s.opt.Stream, "duplicate_window", w.String())
		}
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateStream(ctx, s.config())
		// Another replica created it between the lookup and the creation: it exists, as wanted.
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", s.opt.Stream, err)
		}
		s.log.Info("stream created", "stream", s.opt.Stream, "subjects", s.opt.SubjectPrefix+".>")
	default:
		return fmt.Errorf("look up stream %s: %w", s.opt.Stream, err)
	}
	s.ready = true
	return nil
}

func (s *stream) config() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.opt.Stream,
		Description: "Lifecycle events of Ray executor deliberations (CloudEvents)",
		Subjects:    []string{s.opt.SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.opt.MaxAge,
		Duplicates:  s.opt.DuplicateWindow,
	}
}
