package fakes_test

import (
	"testing"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/storetest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, events bool) storetest.Subject {
		s := fakes.NewStore()
		if events {
			s = fakes.NewStoreWithOutbox()
		}
		return storetest.Subject{Store: s, Outbox: s}
	})
}
