package natsevents

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{URL: "nats://127.0.0.1:4222"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.SubjectPrefix != "ray-executor" || o.Stream != "RAY_EXECUTOR" || o.DuplicateWindow < MinDuplicateWindow ||
		o.subject("started") != "ray-executor.deliberation.started" {
		t.Fatalf("defaults = %+v", o)
	}
}

func TestOptionsRefused(t *testing.T) {
	_, err := Options{SubjectPrefix: "a.*", Stream: "a.b", DuplicateWindow: time.Minute}.withDefaults()
	for _, want := range []string{"URL is required", "subject prefix", "stream name", "duplicate window"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not report %q", err, want)
		}
	}
}
