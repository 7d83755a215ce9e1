package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// exampleBody is a deliberation a user can send as it is once a model server listens on
// 127.0.0.1:8000 (vLLM's default port) and serves the model named in it.
const exampleBody = `{"task_id":"task-1","task_description":"Implement an LRU cache with a TTL","role":"DEV",` +
	`"constraints":{"story_id":"story-1"},` +
	`"agents":[{"agent_id":"a1","role":"DEV","model":"my-model"},{"agent_id":"a2","role":"QA","model":"my-model"}],` +
	`"vllm_url":"http://127.0.0.1:8000","vllm_model":"my-model"}`

// endpoint is one backing server in the table: where it is and who runs it.
type endpoint struct {
	name, url, note string
}

// printTable tells the user where everything is and how to try it. It is the launcher's own
// output, not a log line, so it goes to stdout as plain text.
func printTable(w io.Writer, basePort int, servers []endpoint, tokenSet bool, interval time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "\nThe Ray executor stack is up.\n\n")
	for _, p := range programs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.binary, p.url(basePort), p.routes)
	}
	for _, s := range servers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.name, redacted(s.url), s.note)
	}
	fmt.Fprintf(tw, "  reconcile tick\tevery %s\tdev.knative.sources.ping to get-deliberation-status\n", interval)
	_ = tw.Flush()

	auth := ""
	if tokenSet {
		auth = ` -H "Authorization: Bearer $API_TOKEN"`
	}
	router := programs[0].url(basePort)
	fmt.Fprintf(w, "\nTry it (vllm_url must name your OpenAI-compatible model server):\n"+
		"  curl -sS -X POST %s/deliberations -H 'Content-Type: application/json'%s \\\n    -d '%s'\n"+
		"  curl -sS%s %s/deliberations/<deliberation_id>\n"+
		"  curl -sS%s %s/stats\n\nCtrl-C stops everything.\n\n",
		router, auth, exampleBody, auth, router, auth, router)
}

// redacted hides the password of a URL (or of each of a comma-separated list) that the user gave.
func redacted(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
