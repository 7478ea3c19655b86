package lock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/skiffdeploy/skiff/internal/transport/transporttest"
)

func TestKeep(t *testing.T) {
	ctx := context.Background()
	s1, s2 := newStore(t), newStore(t)
	l1, _, err := s1.Acquire(ctx, &transporttest.Local{}, "web1", alice(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l2, _, err := s2.Acquire(ctx, &transporttest.Local{}, "web2", alice(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ageHeartbeat(t, s2, time.Hour)
	beat2 := l2.Info().Heartbeat

	var mu sync.Mutex
	lost := map[string]error{}
	stop := Keep(ctx, []*Lock{l1, l2}, 20*time.Millisecond, func(host string, err error) {
		mu.Lock()
		defer mu.Unlock()
		lost[host] = err
	})
	if _, err := s1.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(lost)
		mu.Unlock()
		if n > 0 && l2.Info().Heartbeat.After(beat2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: lost = %v, web2 heartbeat %v (was %v)", lost, l2.Info().Heartbeat, beat2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	stop()
	var le *LostError
	if len(lost) != 1 || !errors.As(lost["web1"], &le) {
		t.Fatalf("lost = %v", lost)
	}
	if r := readRecord(t, s2); time.Now().Unix()-r.HostHeartbeat > 5 {
		t.Errorf("web2's heartbeat not refreshed on the host: %+v", r)
	}
}

// Held holds on the host while the lock is this one, and not once it was
// released or passed to another run.
func TestHeld(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l := mustAcquire(t, s, alice())
	check := func() bool {
		res, err := (&transporttest.Local{}).Run(ctx, l.Held())
		if err != nil {
			t.Fatal(err)
		}
		return res.ExitCode == 0
	}
	if !check() {
		t.Fatal("Held does not hold on the lock's own host")
	}
	if _, err := s.ForceRelease(ctx, &transporttest.Local{}); err != nil {
		t.Fatal(err)
	}
	if check() {
		t.Error("Held holds after the lock was released")
	}
	mustAcquire(t, s, bob())
	if check() {
		t.Error("Held holds while another run holds the lock")
	}
}
