package connectortest

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

func TestSinkSemantics(t *testing.T) {
	ctx := context.Background()
	s := NewSink(t, Options{File: filepath.Join(t.TempDir(), "points")})
	if err := s.EnsureStream(ctx, point.StreamSpec{Name: "a", Kind: point.KindFloat}); err != nil {
		t.Fatal(err)
	}
	var se *point.StreamError
	if err := s.EnsureStream(ctx, point.StreamSpec{Name: "a", Kind: point.KindInt}); !errors.As(err, &se) || se.Kind != point.KindFloat {
		t.Fatalf("ensuring with another kind: %v", err)
	}
	s.Refuse("no")
	if err := s.EnsureStream(ctx, point.StreamSpec{Name: "no", Kind: point.KindInt}); !errors.As(err, &se) || se.Kind != 0 {
		t.Fatalf("ensuring a refused stream: %v", err)
	}
	// A batch with a bad point stores nothing.
	if err := s.Write(ctx, []point.Point{{Stream: "a", Time: 1, Value: point.Float(1)}, {Stream: "b", Time: 1, Value: point.Float(1)}}); err == nil || s.Len() != 0 {
		t.Fatalf("unknown stream: %v, %d stored", err, s.Len())
	}
	if err := s.Write(ctx, []point.Point{{Stream: "a", Time: 1, Value: point.Int(1)}}); err == nil {
		t.Fatal("a point of the wrong kind was stored")
	}
	// Same stream and time: the last write wins.
	for _, v := range []float64{1, 2} {
		if err := s.Write(ctx, []point.Point{{Stream: "a", Time: 1, Value: point.Float(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	if p := s.Points("a"); len(p) != 1 || p[0].Value.F != 2 || s.Received() != 2 || s.Writes() != 2 {
		t.Fatalf("points %+v, received %d, writes %d", p, s.Received(), s.Writes())
	}
	s.Fail(errors.New("down"))
	if err := s.Write(ctx, nil); err == nil {
		t.Fatal("Fail did not fail writes")
	}
	s.Fail(nil)
	release := s.Block()
	done := make(chan error)
	go func() { done <- s.Write(ctx, []point.Point{{Stream: "a", Time: 2, Value: point.Float(3)}}) }()
	s.WaitFor(t, 5*time.Second, "a blocked write", func() bool { return s.Waiting() == 1 })
	release()
	if err := <-done; err != nil || s.Len() != 2 {
		t.Fatalf("after release: %v, %d points", err, s.Len())
	}
}

func TestDecodeYAMLIsStrict(t *testing.T) {
	var v struct {
		A int `yaml:"a"`
	}
	if err := DecodeYAML("a: 1\nb: 2\n")(&v); err == nil {
		t.Fatal("an unknown key was accepted")
	}
	if err := DecodeYAML("a: 1\n")(&v); err != nil || v.A != 1 {
		t.Fatalf("%v, %+v", err, v)
	}
}
