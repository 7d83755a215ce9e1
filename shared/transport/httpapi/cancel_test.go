package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

func TestCancelHTTP(t *testing.T) {
	t.Parallel()
	for f, prefix := range map[transport.Function]string{transport.FunctionStatus: "/", transport.FunctionCombined: "/deliberations/"} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, f)
			sub, err := h.svc.Execute(t.Context(), executeCommand(t))
			if err != nil {
				t.Fatal(err)
			}
			path := prefix + sub.DeliberationID
			got := h.call(http.MethodDelete, path, `{"reason":"story dropped\nre-planned"}`)
			if got.status != http.StatusAccepted {
				t.Fatalf("first DELETE: %d %s", got.status, got.body)
			}
			if m := got.json(t); m["status"] != "cancelled" || m["reason"] != "story dropped\nre-planned" || m["cancelled_at"] == nil {
				t.Fatalf("first DELETE body: %v", m)
			}
			again := h.call(http.MethodDelete, path, "")
			if again.status != http.StatusOK || again.json(t)["status"] != "cancelled" {
				t.Fatalf("second DELETE: %d %s", again.status, again.body)
			}
			if st := h.call(http.MethodGet, path, ""); st.json(t)["status"] != "cancelled" {
				t.Fatalf("status after cancel: %s", st.body)
			}
			unknown := h.call(http.MethodDelete, prefix+deliberation.IDFromKey("unknown"), "")
			if unknown.status != http.StatusNotFound || unknown.json(t)["status"] != "not_found" {
				t.Fatalf("DELETE unknown: %d %s", unknown.status, unknown.body)
			}
			h.call(http.MethodDelete, prefix+"not-an-id", "").problem(t, http.StatusBadRequest)
			for _, body := range []string{`{"reason":"a\u0000b"}`, `{"reason":"` + strings.Repeat("x", deliberation.MaxCancelReasonBytes+1) + `"}`, `{"why":"x"}`, `[1]`} {
				h.call(http.MethodDelete, path, body).problem(t, http.StatusBadRequest)
			}
			req := h.request(http.MethodDelete, path, `{"reason":"x"}`)
			req.Header.Set("Content-Type", "text/plain")
			if got := h.do(req); got.status != http.StatusUnsupportedMediaType {
				t.Fatalf("DELETE text/plain: %d", got.status)
			}
		})
	}
}

func TestCancelAfterCompletionIs409(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus)
	sub, err := h.svc.Execute(t.Context(), executeCommand(t))
	if err != nil {
		t.Fatal(err)
	}
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		return app.AttemptStatus{State: deliberation.JobFailed}, nil
	}
	if rep, _ := h.svc.Status(t.Context(), sub.DeliberationID); rep.Status != deliberation.StatusFailed {
		t.Fatalf("status = %s", rep.Status)
	}
	got := h.call(http.MethodDelete, "/"+sub.DeliberationID, "")
	got.problem(t, http.StatusConflict)
	if m := got.json(t); m["deliberation_status"] != "failed" || !strings.Contains(m["detail"].(string), "failed") {
		t.Fatalf("409 body: %v", m)
	}
}

func TestCancelNeedsToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, transport.FunctionStatus, withToken("s3cret"))
	id := deliberation.IDFromKey("x")
	h.call(http.MethodDelete, "/"+id, "").problem(t, http.StatusUnauthorized)
	h.do(h.binary("/", transport.TypeCancelRequested, "e1", `{"deliberation_id":"`+id+`"}`)).problem(t, http.StatusUnauthorized)
	if got := h.call(http.MethodDelete, "/"+id, "", "Authorization", "Bearer s3cret"); got.status != http.StatusNotFound {
		t.Fatalf("DELETE with token: %d %s", got.status, got.body)
	}
}

// On the Broker path every outcome is a status reply, never a 404 or 409 a Broker would retry.
func TestCancelEvent(t *testing.T) {
	t.Parallel()
	for mode, build := range modes {
		for _, f := range []transport.Function{transport.FunctionStatus, transport.FunctionCombined} {
			t.Run(mode+"/"+string(f), func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, f)
				sub, err := h.svc.Execute(t.Context(), executeCommand(t))
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				send := func(data string) response {
					n++
					return h.do(build(h, "/", transport.TypeCancelRequested, fmt.Sprintf("c-%d", n), data))
				}
				data := `{"deliberation_id":"` + sub.DeliberationID + `","reason":"dropped"}`
				for i := range 2 {
					if m := send(data).reply(t, transport.TypeStatus); m["status"] != "cancelled" || m["reason"] != "dropped" {
						t.Fatalf("cancel %d reply: %v", i, m)
					}
				}
				if m := send(`{"deliberation_id":"`+deliberation.IDFromKey("nope")+`"}`).reply(t, transport.TypeStatus); m["status"] != "not_found" {
					t.Fatalf("unknown reply: %v", m)
				}
				for _, bad := range []string{`{}`, `{"deliberation_id":"x"}`, `{"deliberation_id":"` + sub.DeliberationID + `","extra":1}`, `"nope"`} {
					if got := send(bad); got.status != http.StatusBadRequest {
						t.Fatalf("malformed %s: %d %s", bad, got.status, got.body)
					}
				}
			})
		}
	}
	// Other functions do not take it.
	h := newHarness(t, transport.FunctionStats)
	h.do(h.binary("/", transport.TypeCancelRequested, "e", `{"deliberation_id":"`+deliberation.IDFromKey("x")+`"}`)).problem(t, http.StatusBadRequest)
}
