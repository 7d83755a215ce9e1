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

// compare orders members as an index does: by score, then by id.
func (m member) compare(o member) int {
	return cmp.Or(cmp.Compare(m.score, o.score), strings.Compare(m.id, o.id))
}

// Active returns one page of non-terminal entries, oldest first (by submission time, then id).
// The cursor is `<score>.<id>` of the last member the previous page considered; it stays valid
// when that entry finishes meanwhile.
//
// Two pipelined round trips whatever the history holds (three when the shards are uneven): every
// shard's index answers its next members after the cursor (active.lua), a share of the page with
// room to spare, merged in order; a shard that filled its share before the merged page ends is
// asked for the rest. Then the entries of the first limit are read with one MGET per shard. An
// entry that finished or expired between the two is left out of the page, which may then be
// shorter than limit with a next cursor.
func (s *Store) Active(ctx context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	return s.activePage(ctx, s.keys.active, cursor, limit)
}

// ActiveOf is Active over one caller's deliberations: its own active index in every shard, so a
// caller's page costs what it would if it were alone, whatever the others hold.
func (s *Store) ActiveOf(ctx context.Context, caller, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	if caller == "" {
		return nil, "", nil
	}
	return s.activePage(ctx, func(shard int) string { return s.keys.callerActive(shard, caller) }, cursor, limit)
}

// activePage is a page of the active index that index names in every shard.
func (s *Store) activePage(ctx context.Context, index func(shard int) string, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	score, after, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	want := limit + 1 // one more tells whether a next page exists
	share := min(want, want/Shards*2+4)
	heads := make([][]member, Shards)
	shards := make([]int, Shards)
	for i := range shards {
		shards[i] = i
	}
	if err := s.activeHeads(ctx, index, heads, shards, func(int) (string, string) { return score, after }, share); err != nil {
		return nil, "", err
	}
	if full := fullShards(heads, share, want); len(full) > 0 {
		if err := s.activeHeads(ctx, index, heads, full, func(shard int) (string, string) {
			last := heads[shard][len(heads[shard])-1]
			return strconv.FormatInt(last.score, 10), last.id
		}, want); err != nil {
			return nil, "", err
		}
	}
	var merged []member
	for _, h := range heads {
		merged = append(merged, h...)
	}
	slices.SortFunc(merged, member.compare)
	next := ""
	if len(merged) > limit {
		merged = merged[:limit]
		next = merged[limit-1].cursor()
	}
	page, err := s.activeEntries(ctx, merged)
	return page, next, err
}

// fullShards are the shards that answered a whole share while the merged heads hold fewer than
// want members up to the first of their last members: a shard may hold members before the page
// ends that it was not asked for. None when every shard's share was enough.
func fullShards(heads [][]member, share, want int) []int {
	if share >= want {
		return nil
	}
	var full []int
	var bound member
	for shard, h := range heads {
		if len(h) == share {
			full = append(full, shard)
			if last := h[len(h)-1]; len(full) == 1 || last.compare(bound) < 0 {
				bound = last
			}
		}
	}
	if len(full) == 0 {
		return nil
	}
	n := 0
	for _, h := range heads {
		for _, m := range h {
			if m.compare(bound) <= 0 {
				n++
			}
		}
	}
	if n >= want {
		return nil
	}
	return full
}

// activeHeads appends to heads[shard], for each of shards, up to count members of its active
// index after the cursor from, in one pipeline.
func (s *Store) activeHeads(ctx context.Context, index func(shard int) string, heads [][]member, shards []int, from func(shard int) (string, string), count int) error {
	calls := make([]scriptCall, len(shards))
	for i, shard := range shards {
		score, after := from(shard)
		calls[i] = scriptCall{keys: []string{index(shard)}, args: []any{score, after, count}}
	}
	cmds, err := runPipelined(ctx, s.rdb, activeScript, calls)
	if err != nil {
		return unavailable(err)
	}
	for i, c := range cmds {
		pairs, err := c.StringSlice()
		if err != nil {
			return unavailable(err)
		}
		for j := 0; j+1 < len(pairs); j += 2 {
			ms, err := strconv.ParseInt(pairs[j+1], 10, 64)
			if err != nil {
				return fmt.Errorf("active index score %q: %w", pairs[j+1], err)
			}
			heads[shards[i]] = append(heads[shards[i]], member{ms, pairs[j]})
		}
	}
	return nil
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
