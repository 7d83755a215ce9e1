package fakes_test

import (
	"testing"

	"github.com/rayexecutor/functions/shared/app/storetest"
	"github.com/rayexecutor/functions/shared/fakes"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Subject { return storetest.Subject{Store: fakes.NewStore()} })
}
