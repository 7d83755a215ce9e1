package runnerqueue_test

import (
	"testing"

	"github.com/rayexecutor/functions/internal/raytest"
)

func realRayAddress(t *testing.T) string { return raytest.RealAddress(t) }

var openLimits = raytest.OpenLimits

func uniqueID(name string) string { return raytest.UniqueID(name) }
