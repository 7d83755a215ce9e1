package redisstore

import (
	"context"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Get returns an entry or a not_found error.
func (s *Store) Get(ctx context.Context, id string) (deliberation.Deliberation, error) {
	snap, err := s.read(ctx, id)
	if err != nil {
		return deliberation.Deliberation{}, err
	}
	return snap.entry, nil
}

// Request returns the request stored with an entry.
func (s *Store) Request(ctx context.Context, id string) (deliberation.Request, error) {
	raw, err := s.rdb.Get(ctx, s.keys.request(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return deliberation.Request{}, deliberation.Errorf(deliberation.CodeNotFound, "request of %s not found", id)
	}
	if err != nil {
		return deliberation.Request{}, unavailable(err)
	}
	var req deliberation.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return deliberation.Request{}, fmt.Errorf("decode request of %s: %w", id, err)
	}
	return req, nil
}

// snapshot is an entry with the exact bytes the store holds for it. read is false for an entry the
// caller vouched for (UpdateFrom) and the store has not seen yet.
type snapshot struct {
	raw   []byte
	entry deliberation.Deliberation
	read  bool
}

// read fetches and decodes the stored entry of id, keeping its bytes for a compare-and-set.
func (s *Store) read(ctx context.Context, id string) (*snapshot, error) {
	raw, err := s.rdb.Get(ctx, s.keys.entry(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	d, err := decodeEntry(raw)
	if err != nil {
		return nil, err
	}
	return &snapshot{raw: raw, entry: d, read: true}, nil
}

func notFound(id string) error {
	return deliberation.Errorf(deliberation.CodeNotFound, "Deliberation %s not found", id)
}

// Entries are JSON written and read with goccy/go-json: the bytes of encoding/json, but a finished
// entry decodes 6 to 7 times as fast (BenchmarkEntryCodec), and its decoding was most of a status
// request's CPU.
func encodeEntry(d deliberation.Deliberation) ([]byte, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode entry: %w", err)
	}
	return raw, nil
}

func decodeEntry(raw []byte) (deliberation.Deliberation, error) {
	var d deliberation.Deliberation
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("decode entry: %w", err)
	}
	return d, nil
}
