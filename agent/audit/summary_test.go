package audit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var es []Entry
	add := func(e Entry) {
		e.Seq, e.Time = uint64(len(es)+1), epoch.Add(time.Duration(len(es))*time.Minute)
		es = append(es, e)
	}
	own := func(kind, tenant, stream string, points int64, outcome, reason string) Entry {
		return Entry{Kind: kind, Tenant: tenant, Community: "refining", Stream: stream,
			Points: points, Outcome: outcome, Reason: reason, Side: SideOwner}
	}
	add(own(KindPartnerRead, "t-a", "s1", 10, OutcomeAllowed, ""))        // 0
	add(own(KindPartnerRead, "t-a", "s1", 20, OutcomeOK, ""))             // 1
	add(own(KindReadDenied, "t-a", "s1", 0, OutcomeDenied, "not_shared")) // 2
	add(own(KindReadDenied, "t-a", "s1", 0, OutcomeDenied, "not_shared")) // 3
	add(own(KindReadDenied, "t-a", "s1", 0, "", "window_too_wide"))       // 4
	add(own(KindPartnerRead, "t-b", "s1", 5, OutcomeAllowed, ""))         // 5
	add(own(KindPartnerRead, "t-a", "s2", 0, OutcomeError, "store"))      // 6
	add(own(KindPartnerRead, "t-a", "s2", 0, OutcomeDenied, ""))          // 7
	add(Entry{Kind: KindAdmin, Actor: "root", Tenant: "t-a"})             // 8: not a read
	add(Entry{Kind: KindCheckpoint})                                      // 9
	add(Entry{Kind: KindPartnerRead, Tenant: "owner-x", Connection: "conn-1", Stream: "s9",
		Points: 7, Outcome: OutcomeOK, Side: SideReader}) // 10
	at := func(i int) time.Time { return es[i].Time }

	got := Summarize(es, GroupAll)
	want := []SummaryRow{
		{Connection: "conn-1", Tenant: "owner-x", Stream: "s9", Side: SideReader, Reads: 1, Points: 7, First: at(10), Last: at(10)},
		{Community: "refining", Tenant: "t-a", Stream: "s1", Side: SideOwner, Reads: 2, Points: 30,
			Denials: map[string]int64{"not_shared": 2, "window_too_wide": 1}, First: at(0), Last: at(4)},
		{Community: "refining", Tenant: "t-a", Stream: "s2", Side: SideOwner, Errors: 1,
			Denials: map[string]int64{"unspecified": 1}, First: at(6), Last: at(7)},
		{Community: "refining", Tenant: "t-b", Stream: "s1", Side: SideOwner, Reads: 1, Points: 5, First: at(5), Last: at(5)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GroupAll:\n%+v\nwant\n%+v", got, want)
	}
	if n := got[1].DeniedTotal(); n != 3 {
		t.Fatalf("denied total %d", n)
	}

	byTenant := Summarize(es, ByTenant)
	wantTenant := []SummaryRow{
		{Tenant: "owner-x", Reads: 1, Points: 7, First: at(10), Last: at(10)},
		{Tenant: "t-a", Reads: 2, Points: 30, Errors: 1,
			Denials: map[string]int64{"not_shared": 2, "window_too_wide": 1, "unspecified": 1}, First: at(0), Last: at(7)},
		{Tenant: "t-b", Reads: 1, Points: 5, First: at(5), Last: at(5)},
	}
	if !reflect.DeepEqual(byTenant, wantTenant) {
		t.Fatalf("ByTenant:\n%+v\nwant\n%+v", byTenant, wantTenant)
	}

	var csv strings.Builder
	if err := WriteCSV(&csv, got); err != nil {
		t.Fatal(err)
	}
	wantCSV := `community,connection,tenant,stream,side,reads,points,denials,errors,first,last,denials_by_reason
,conn-1,owner-x,s9,reader,1,7,0,0,2026-03-01T09:10:00Z,2026-03-01T09:10:00Z,
refining,,t-a,s1,owner,2,30,3,0,2026-03-01T09:00:00Z,2026-03-01T09:04:00Z,not_shared=2;window_too_wide=1
refining,,t-a,s2,owner,0,0,1,1,2026-03-01T09:06:00Z,2026-03-01T09:07:00Z,unspecified=1
refining,,t-b,s1,owner,1,5,0,0,2026-03-01T09:05:00Z,2026-03-01T09:05:00Z,
`
	if csv.String() != wantCSV {
		t.Fatalf("CSV:\n%s\nwant\n%s", csv.String(), wantCSV)
	}
	js, err := json.Marshal(got[2])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"community":"refining","tenant":"t-a","stream":"s2","side":"owner","reads":0,"points":0,"denials":{"unspecified":1},"errors":1,"first":"2026-03-01T09:06:00Z","last":"2026-03-01T09:07:00Z"}`; string(js) != want {
		t.Fatalf("JSON %s", js)
	}
	if rows := Summarize(nil, GroupAll); len(rows) != 0 {
		t.Fatalf("empty: %+v", rows)
	}
}
