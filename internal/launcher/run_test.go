package launcher

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/testenv"
)

func TestRun(t *testing.T) {
	t.Parallel()
	out := &testenv.Buffer{}
	err := Run(t.Context(), Command{Path: os.Args[0], Env: []string{helperVar + "=env", "ONLY=this"}, Stdout: out}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The environment is exactly the one given: nothing of the test's leaks in.
	if got := strings.Split(out.String(), "\n"); !slices.Equal(got, []string{helperVar + "=env", "ONLY=this"}) {
		t.Errorf("the process saw the environment %q", got)
	}

	var exit *exec.ExitError
	if err := Run(t.Context(), Command{Path: os.Args[0], Env: []string{helperVar + "=exit"}}, time.Second); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("err = %v, want exit status 3", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = Run(ctx, Command{Path: os.Args[0], Env: []string{helperVar + "=ignore-term"}}, 100*time.Millisecond)
	// Killed, or ended by the SIGTERM if it came before the helper ignored it.
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "signal: ") {
		t.Errorf("err = %v, want the deadline and the signal that stopped the process", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Run returned %s after its deadline of 200ms", took)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	got := Env([]string{"PATH=/bin", "B=base"}, map[string]string{"C": "3", "B": "over"})
	// Sorted vars after base: the last B, which exec keeps, is the override.
	if want := []string{"PATH=/bin", "B=base", "B=over", "C=3"}; !slices.Equal(got, want) {
		t.Errorf("Env = %q, want %q", got, want)
	}
	if got := Env(nil, nil); got == nil {
		t.Error("Env(nil, nil) is nil, which exec takes for this process's whole environment")
	}
}
