package store

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/sluice-edge/sluice/connectors/point"
)

// metaVersion is the Badger version of a stream's definition: it moves on
// every write of the definition, so tests can tell "written" from "left".
func metaVersion(t *testing.T, s *Store, name string) uint64 {
	t.Helper()
	var v uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(name))
		if err != nil {
			return err
		}
		v = item.Version()
		return nil
	})
	if err != nil {
		t.Fatalf("definition of %q: %v", name, err)
	}
	return v
}

func TestLabelsPersistAndMerge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	name := "plant1/line2/temp"
	base := map[string]string{"site": "plant1", "line": "line2"}
	if _, err := s.CreateStream(ctx, point.StreamSpec{Name: name, Labels: base}); err != nil {
		t.Fatal(err)
	}
	base["site"] = "changed by the caller" // the store keeps its own copy
	v0 := metaVersion(t, s, name)

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   map[string]string
		write  bool
	}{
		{"no labels: nothing to merge", nil, map[string]string{"site": "plant1", "line": "line2"}, false},
		{"a subset: nothing new", map[string]string{"site": "plant1"}, map[string]string{"site": "plant1", "line": "line2"}, false},
		{"a new key is added", map[string]string{"host": "gw1"}, map[string]string{"site": "plant1", "line": "line2", "host": "gw1"}, true},
		{"a new value replaces", map[string]string{"host": "gw2"}, map[string]string{"site": "plant1", "line": "line2", "host": "gw2"}, true},
		{"the same again: no write", map[string]string{"host": "gw2", "line": "line2"}, map[string]string{"site": "plant1", "line": "line2", "host": "gw2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.EnsureStream(ctx, point.StreamSpec{Name: name, Kind: point.KindFloat, Labels: tc.labels}); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetStream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Labels, tc.want) {
				t.Fatalf("labels %v, want %v", got.Labels, tc.want)
			}
			v := metaVersion(t, s, name)
			if wrote := v != v0; wrote != tc.write {
				t.Fatalf("definition written: %v, want %v", wrote, tc.write)
			}
			v0 = v
		})
	}

	// A kind mismatch still merges the labels: the stream is the same.
	err := s.EnsureStream(ctx, point.StreamSpec{Name: name, Kind: point.KindInt, Labels: map[string]string{"area": "east"}})
	if !errors.Is(err, ErrKindMismatch) {
		t.Fatalf("ensure with another kind: %v", err)
	}
	want := map[string]string{"site": "plant1", "line": "line2", "host": "gw2", "area": "east"}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	got, err := s.GetStream(ctx, name)
	if err != nil || !maps.Equal(got.Labels, want) {
		t.Fatalf("after reopen: %v %v, want %v", got.Labels, err, want)
	}
	// Callers get copies: changing one changes nothing stored.
	got.Labels["site"] = "x"
	if again, _ := s.GetStream(ctx, name); again.Labels["site"] != "plant1" {
		t.Fatalf("a caller's change leaked into the store: %v", again.Labels)
	}
}

// TestLabelsConcurrentEnsure: many sources ensuring one stream with the
// same new labels write its definition once (the committer merges again).
func TestLabelsConcurrentEnsure(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	mustCreate(t, s, "a/b", point.KindFloat)
	v0 := metaVersion(t, s, "a/b")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.EnsureStream(ctx, point.StreamSpec{Name: "a/b", Kind: point.KindFloat, Labels: map[string]string{"k": "v"}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var writes uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true, Prefix: metaKey("a/b")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if it.Item().Version() > v0 {
				writes++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if writes != 1 {
		t.Fatalf("definition written %d times, want once", writes)
	}
}

func TestLabelsValidation(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	many := map[string]string{}
	for i := range point.MaxLabels + 1 {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string // in the error
	}{
		{"bad key", map[string]string{"plant-site": "a"}, `key "plant-site"`},
		{"leading digit", map[string]string{"1st": "a"}, `key "1st"`},
		{"reserved", map[string]string{"__name__": "a"}, "reserved"},
		{"empty value", map[string]string{"site": ""}, "site: empty value"},
		{"long value", map[string]string{"site": strings.Repeat("v", point.MaxLabelValueLen+1)}, "over the limit of 256"},
		{"control", map[string]string{"site": "a\nb"}, "control character"},
		{"too many", many, "33 labels, over the limit of 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateStream(ctx, point.StreamSpec{Name: "s/" + strings.ReplaceAll(tc.name, " ", "_"), Labels: tc.labels})
			var se *point.StreamError
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, point.ErrBadLabel) || !errors.As(err, &se) || se.Kind != 0 {
				t.Fatalf("create: %v, want ErrInvalid, ErrBadLabel and a refusing StreamError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if s.StreamCount() != 0 {
				t.Fatal("a stream with bad labels was created")
			}
		})
	}
}

func TestListStreamsByLabel(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	for name, ls := range map[string]map[string]string{
		"p1/a": {"site": "plant1", "line": "a"},
		"p1/b": {"site": "plant1", "line": "b"},
		"p2/a": {"site": "plant2", "line": "a"},
		"none": nil,
	} {
		if _, err := s.CreateStream(ctx, point.StreamSpec{Name: name, Labels: ls}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		terms []string
		want  string
	}{
		{nil, "none p1/a p1/b p2/a"},
		{[]string{"site=plant1"}, "p1/a p1/b"},
		{[]string{"site=plant1", "line=b"}, "p1/b"},
		{[]string{"line=a"}, "p1/a p2/a"},
		{[]string{"site"}, "p1/a p1/b p2/a"},
		{[]string{"site="}, ""},
		{[]string{"site=plant3"}, ""},
	} {
		sel, err := point.ParseLabelSelector(tc.terms)
		if err != nil {
			t.Fatal(err)
		}
		list, _, err := s.ListStreams(ctx, ListOptions{Labels: sel})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, st := range list {
			names = append(names, st.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.terms, got, tc.want)
		}
	}
}

// TestDefinitionWithoutLabels: definitions stored before labels existed
// load, and take labels later.
func TestDefinitionWithoutLabels(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	old := `{"id":7,"name":"old/stream","unit":"degC","kind":"float","source":"mqtt:x","created":"2024-05-01T10:00:00Z"}`
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(metaKey("old/stream"), []byte(old)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, Options{Dir: dir})
	st, err := s.GetStream(ctx, "old/stream")
	if err != nil || st.ID != 7 || st.Unit != "degC" || st.Labels != nil {
		t.Fatalf("old definition: %+v %v", st, err)
	}
	if err := s.EnsureStream(ctx, point.StreamSpec{Name: "old/stream", Kind: point.KindFloat, Labels: map[string]string{"site": "p"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	if st, _ := s.GetStream(ctx, "old/stream"); st.Labels["site"] != "p" || st.ID != 7 || st.Unit != "degC" {
		t.Fatalf("after relabel and reopen: %+v", st)
	}
}

func TestRelabelDeletedStream(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	mustCreate(t, s, "gone", point.KindFloat)
	st := s.lookup("gone")
	if err := s.DeleteStream(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// An ensure that looked the stream up just before the delete.
	_, err := s.existing(ctx, st, point.StreamSpec{Name: "gone", Kind: point.KindFloat, Labels: map[string]string{"k": "v"}}, true)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("relabel of a deleted stream: %v, want ErrNotFound", err)
	}
	if err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(metaKey("gone"))
		return err
	}); !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("the deleted definition came back: %v", err)
	}
}
