package redisstore

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

//go:embed active.lua
var activeLua string

var activeScript = redis.NewScript(activeLua)

// member is one id of an active index with its score (submission time, ms).
type member struct {
	score int64
	id    string
}

func (m member) cursor() string { return fmt.Sprintf("%d.%s", m.score, m.id) }

// Active returns one page of non-terminal entries, oldest first (by submission time, then id).
// The cursor is `<score>.<id>` of the last member the previous page considered; it stays valid
// when that entry finishes meanwhile.
//
// Two pipelined round trips whatever the history holds: every shard's index answers its first
// limit+1 members after the cursor (active.lua), merged in order, so the first limit+1 of the
// whole are among them; then the entries of the first limit are read with one MGET per shard.
// An entry that finished or expired between the two is left out of the page, which may then be
// shorter than limit with a next cursor.
func (s *Store) Active(ctx context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	score, after, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	calls := make([]scriptCall, Shards)
	for shard := range calls {
		calls[shard] = scriptCall{keys: []string{s.keys.active(shard)}, args: []any{score, after, limit + 1}}
	}
	heads, err := runPipelined(ctx, s.rdb, activeScript, calls)
	if err != nil {
		return nil, "", unavailable(err)
	}
	var merged []member
	for _, c := range heads {
		pairs, err := c.StringSlice()
		if err != nil {
			return nil, "", unavailable(err)
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			ms, err := strconv.ParseInt(pairs[i+1], 10, 64)
			if err != nil {
				return nil, "", fmt.Errorf("active index score %q: %w", pairs[i+1], err)
			}
			merged = append(merged, member{ms, pairs[i]})
		}
	}
	slices.SortFunc(merged, func(a, b member) int { return cmp.Or(cmp.Compare(a.score, b.score), strings.Compare(a.id, b.id)) })
	next := ""
	if len(merged) > limit {
		merged = merged[:limit]
		next = merged[limit-1].cursor()
	}
	page, err := s.activeEntries(ctx, merged)
	return page, next, err
}

// activeEntries reads the entries of members (one MGET per shard, in one pipeline) in members'
// order, leaving out those gone or finished since the index listed them.
func (s *Store) activeEntries(ctx context.Context, members []member) ([]deliberation.Deliberation, error) {
	byShard := map[int][]int{} // shard -> positions in members
	for i, m := range members {
		byShard[shardOf(m.id)] = append(byShard[shardOf(m.id)], i)
	}
	raw := make([]any, len(members))
	if len(members) > 0 {
		cmds := map[int]*redis.SliceCmd{}
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for shard := range Shards {
				positions := byShard[shard]
				if len(positions) == 0 {
					continue
				}
				names := make([]string, len(positions))
				for j, i := range positions {
					names[j] = s.keys.entry(members[i].id)
				}
				cmds[shard] = p.MGet(ctx, names...)
			}
			return nil
		})
		if err != nil {
			return nil, unavailable(err)
		}
		for shard, positions := range byShard {
			for j, v := range cmds[shard].Val() {
				raw[positions[j]] = v
			}
		}
	}
	page := make([]deliberation.Deliberation, 0, len(members))
	for _, v := range raw {
		str, ok := v.(string)
		if !ok {
			continue
		}
		d, err := decodeEntry([]byte(str))
		if err != nil {
			return nil, err
		}
		if !d.Status.Terminal() {
			page = append(page, d)
		}
	}
	return page, nil
}

func parseCursor(c string) (score, id string, err error) {
	if c == "" {
		return "", "", nil
	}
	ms, id, ok := strings.Cut(c, ".")
	if _, perr := strconv.ParseInt(ms, 10, 64); !ok || perr != nil || !deliberation.ValidID(id) {
		return "", "", &deliberation.Error{Code: deliberation.CodeInvalid, Message: "invalid cursor",
			Fields: []deliberation.FieldError{{Field: "cursor", Message: "cursor is not one this service returned"}}}
	}
	return ms, id, nil
}
