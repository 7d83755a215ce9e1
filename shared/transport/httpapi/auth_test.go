package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionCombined, withToken("s3cret-token"))
	const id = "delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	denied := map[string]*http.Request{
		"no token":             h.request(http.MethodGet, "/stats", ""),
		"wrong token":          h.request(http.MethodGet, "/stats", "", "Authorization", "Bearer s3cret-tokeN"),
		"prefix of the token":  h.request(http.MethodGet, "/stats", "", "Authorization", "Bearer s3cret"),
		"basic scheme":         h.request(http.MethodGet, "/stats", "", "Authorization", "Basic s3cret-token"),
		"execute":              h.request(http.MethodPost, "/deliberations", validRequest),
		"metrics":              h.request(http.MethodGet, "/metrics", ""),
		"event without token":  h.binary("/", transport.TypeStatsRequested, "e", `{}`),
		"GET with ce headers":  h.request(http.MethodGet, "/deliberations/"+id, "", "ce-specversion", "1.0", "ce-type", deliberation.TypeFinished),
		"structured execute":   h.structured("/", transport.TypeExecuteRequested, "e", validRequest, nil),
		"POST plain to events": h.request(http.MethodPost, "/", `{}`),
	}
	for name, req := range denied {
		got := h.do(req)
		got.problem(t, http.StatusUnauthorized)
		if got.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", name)
		}
	}
	allowed := map[string]*http.Request{
		"token":            h.request(http.MethodGet, "/stats", "", "Authorization", "Bearer s3cret-token"),
		"lowercase bearer": h.request(http.MethodGet, "/jobs", "", "Authorization", "bearer s3cret-token"),
		"event with token": h.binary("/", transport.TypeStatsRequested, "e", `{}`, "Authorization", "Bearer s3cret-token"),
		// The wake-up carries no authority: the job that sends it has no token.
		"wake-up binary":     h.binary("/", deliberation.TypeFinished, "w", `{"deliberation_id":"`+id+`"}`),
		"wake-up structured": h.structured("/", deliberation.TypeFinished, "w", `{"deliberation_id":"`+id+`"}`, nil),
	}
	for name, req := range allowed {
		if got := h.do(req); got.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, got.status, got.body)
		}
	}
}
