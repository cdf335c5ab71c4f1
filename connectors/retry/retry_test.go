package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for i := 0; i < 50; i++ {
			if d := b.Delay(attempt); d < want/2 || d > want {
				t.Fatalf("attempt %d: %v, want in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if b.Delay(1000) > time.Second {
		t.Fatal("delay over the maximum")
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep reported the hour passed on a cancelled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep reported a cancel that did not happen")
	}
}
