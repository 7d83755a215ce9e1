package raytest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

func (a answer) write(w http.ResponseWriter) {
	if a.body == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.text))
		return
	}
	b, err := json.Marshal(a.body)
	if err != nil {
		text(http.StatusInternalServerError, "Server got itself in trouble").write(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	_, _ = w.Write(b)
}

// traceback renders an exception the way Ray's handlers answer it: a Python traceback as text.
func traceback(where, exception string) string {
	return "Traceback (most recent call last):\n" +
		"  File \"/ray/dashboard/modules/job/" + where + "\", line 1, in handler\n" +
		"    raise\n" + exception + "\n"
}

// agentTraceback is an exception raised behind the head, in the job agent: the head answers 500
// with a RuntimeError whose text holds the agent's own traceback.
func agentTraceback(agentStatus int, exception string) string {
	return traceback("job_head.py", "RuntimeError: Request failed with status code "+
		strconv.Itoa(agentStatus)+": "+traceback("job_agent.py", exception)+".")
}
