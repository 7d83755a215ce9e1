package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

//go:embed active.lua
var activeLua string

var activeScript = redis.NewScript(activeLua)

// Active returns one page of non-terminal entries, oldest first. The cursor is `<score>.<id>` of
// the last entry of the previous page; it stays valid when that entry finishes meanwhile.
func (s *Store) Active(ctx context.Context, cursor string, limit int) ([]deliberation.Deliberation, string, error) {
	score, after, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	res, err := activeScript.Run(ctx, s.rdb, []string{s.keys.active()}, score, after, limit, s.keys.entry("")).StringSlice()
	if err != nil {
		return nil, "", unavailable(err)
	}
	page := make([]deliberation.Deliberation, 0, min(len(res)/3, limit))
	next := ""
	for i := 0; i+2 < len(res); i += 3 {
		if len(page) == limit {
			last := page[len(page)-1]
			next = fmt.Sprintf("%d.%s", last.SubmittedAt.UnixMilli(), last.ID)
			break
		}
		d, err := decodeEntry([]byte(res[i+2]))
		if err != nil {
			return nil, "", err
		}
		page = append(page, d)
	}
	return page, next, nil
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
