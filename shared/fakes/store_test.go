package fakes_test

import (
	"testing"

	"github.com/rayexecutor/functions/shared/app/storetest"
	"github.com/rayexecutor/functions/shared/fakes"
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
