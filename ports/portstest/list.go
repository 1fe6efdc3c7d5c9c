package portstest

import (
	"cmp"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// listFixture is the catalog the listing tests query. In LiveApp, creation
// order, id order, name order and status order all differ.
func listFixture() []stream.Broadcast {
	mk := func(app, id, name string, status stream.Status, created time.Duration) stream.Broadcast {
		b := stream.NewBroadcast(key(app, id), at(created))
		b.Name, b.Status = name, status
		if status == stream.StatusBroadcasting {
			b.StartTime = at(created + time.Minute)
		}
		return b
	}
	// Listed in creation order, which is also insertion order.
	return []stream.Broadcast{
		mk("LiveApp", "bravo", "yankee", stream.StatusCreated, 1*time.Second),
		mk("LiveApp", "delta", "whiskey cam", stream.StatusFailed, 2*time.Second),
		mk("LiveApp", "alpha", "zulu show", stream.StatusBroadcasting, 3*time.Second),
		mk("LiveApp", "foxtrot", "uniform cam", stream.StatusBroadcasting, 4*time.Second),
		mk("LiveApp", "charlie", "xray", stream.StatusFinished, 5*time.Second),
		mk("LiveApp", "echo", "victor", stream.StatusTerminatedUnexpectedly, 6*time.Second),
		mk("OtherApp", "alpha2", "other live", stream.StatusBroadcasting, 0),
		mk("OtherApp", "golf", "other cam", stream.StatusCreated, 7*time.Second),
	}
}

func list(t *testing.T, s ports.StreamCatalog, q ports.ListQuery) ([]stream.Broadcast, int) {
	t.Helper()
	bs, total, err := s.Broadcasts(ctx(t), q)
	if err != nil {
		t.Fatalf("Broadcasts(%+v): %v", q, err)
	}
	return bs, total
}

func runList(t *testing.T, open func(t *testing.T) ports.Store) {
	t.Run("Queries", func(t *testing.T) {
		s := open(t)
		fixture := listFixture()
		for _, b := range fixture {
			mustCreate(t, s, b)
		}
		tests := []struct {
			name  string
			q     ports.ListQuery
			want  []string // stream ids, in order
			total int
		}{
			{"DefaultCreationOrder", ports.ListQuery{App: "LiveApp"}, []string{"bravo", "delta", "alpha", "foxtrot", "charlie", "echo"}, 6},
			{"OtherApp", ports.ListQuery{App: "OtherApp"}, []string{"alpha2", "golf"}, 2},
			{"UnknownApp", ports.ListQuery{App: "NoSuchApp"}, []string{}, 0},
			{"ByNameAsc", ports.ListQuery{App: "LiveApp", SortBy: "name"}, []string{"foxtrot", "echo", "delta", "charlie", "bravo", "alpha"}, 6},
			{"ByNameDesc", ports.ListQuery{App: "LiveApp", SortBy: "name", Desc: true}, []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}, 6},
			{"ByDateAsc", ports.ListQuery{App: "LiveApp", SortBy: "date"}, []string{"bravo", "delta", "alpha", "foxtrot", "charlie", "echo"}, 6},
			{"ByDateDesc", ports.ListQuery{App: "LiveApp", SortBy: "date", Desc: true}, []string{"echo", "charlie", "foxtrot", "alpha", "delta", "bravo"}, 6},
			{"StatusFilter", ports.ListQuery{App: "LiveApp", Status: stream.StatusBroadcasting}, []string{"alpha", "foxtrot"}, 2},
			{"StatusFilterNone", ports.ListQuery{App: "OtherApp", Status: stream.StatusFinished}, []string{}, 0},
			{"SearchName", ports.ListQuery{App: "LiveApp", Search: "cam"}, []string{"delta", "foxtrot"}, 2},
			{"SearchID", ports.ListQuery{App: "LiveApp", Search: "ravo"}, []string{"bravo"}, 1},
			{"SearchIDOrName", ports.ListQuery{App: "LiveApp", Search: "ha"}, []string{"alpha", "charlie"}, 2},
			{"SearchNothing", ports.ListQuery{App: "LiveApp", Search: "nope"}, []string{}, 0},
			{"SearchAndStatus", ports.ListQuery{App: "LiveApp", Search: "cam", Status: stream.StatusBroadcasting}, []string{"foxtrot"}, 1},
			{"Limit", ports.ListQuery{App: "LiveApp", SortBy: "name", Limit: 2}, []string{"foxtrot", "echo"}, 6},
			{"OffsetLimit", ports.ListQuery{App: "LiveApp", SortBy: "name", Offset: 2, Limit: 2}, []string{"delta", "charlie"}, 6},
			{"OffsetNoLimit", ports.ListQuery{App: "LiveApp", SortBy: "name", Offset: 4}, []string{"bravo", "alpha"}, 6},
			{"LastPartialPage", ports.ListQuery{App: "LiveApp", SortBy: "date", Desc: true, Offset: 5, Limit: 10}, []string{"bravo"}, 6},
			{"OffsetPastEnd", ports.ListQuery{App: "LiveApp", Offset: 10, Limit: 5}, []string{}, 6},
			{"PagedFilter", ports.ListQuery{App: "LiveApp", Status: stream.StatusBroadcasting, Offset: 1, Limit: 1}, []string{"foxtrot"}, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bs, total := list(t, s, tt.q)
				if got := ids(bs); !slices.Equal(got, tt.want) {
					t.Errorf("ids = %v, want %v", got, tt.want)
				}
				if total != tt.total {
					t.Errorf("total = %d, want %d", total, tt.total)
				}
			})
		}

		t.Run("RecordsRoundTrip", func(t *testing.T) {
			bs, _ := list(t, s, ports.ListQuery{App: "LiveApp"})
			want := normBroadcasts(fixture[:6])
			if got := normBroadcasts(bs); !reflect.DeepEqual(got, want) {
				t.Fatalf("records:\n got  %+v\n want %+v", got, want)
			}
		})

		for _, desc := range []bool{false, true} {
			name := "ByStatusAsc"
			if desc {
				name = "ByStatusDesc"
			}
			t.Run(name, func(t *testing.T) {
				bs, total := list(t, s, ports.ListQuery{App: "LiveApp", SortBy: "status", Desc: desc})
				if total != 6 || len(bs) != 6 {
					t.Fatalf("got %d records, total %d; want 6, 6", len(bs), total)
				}
				// Two records share a status: check the order of statuses, and that
				// every record is there.
				cmpStatus := func(a, b stream.Broadcast) int { return cmp.Compare(a.Status, b.Status) }
				if desc {
					cmpStatus = func(a, b stream.Broadcast) int { return cmp.Compare(b.Status, a.Status) }
				}
				if !slices.IsSortedFunc(bs, cmpStatus) {
					var st []stream.Status
					for _, b := range bs {
						st = append(st, b.Status)
					}
					t.Errorf("statuses not sorted (desc=%v): %v", desc, st)
				}
				got := ids(bs)
				slices.Sort(got)
				if want := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}; !slices.Equal(got, want) {
					t.Errorf("ids = %v, want %v in some order", got, want)
				}
			})
		}
	})

	t.Run("SearchIsLiteral", func(t *testing.T) {
		s := open(t)
		for i, id := range []string{"a.b", "axb", "a_b"} {
			b := stream.NewBroadcast(key("LiveApp", id), at(time.Duration(i)*time.Second))
			b.Name = "n"
			mustCreate(t, s, b)
		}
		for _, tt := range []struct{ search, want string }{{"a.b", "a.b"}, {"a_b", "a_b"}} {
			bs, total := list(t, s, ports.ListQuery{App: "LiveApp", Search: tt.search})
			if got := ids(bs); total != 1 || !slices.Equal(got, []string{tt.want}) {
				t.Errorf("Search %q = %v (total %d), want [%s] (total 1)", tt.search, got, total, tt.want)
			}
		}
	})

	t.Run("LiveBroadcasts", func(t *testing.T) {
		s := open(t)
		live, err := s.LiveBroadcasts(ctx(t))
		if err != nil {
			t.Fatalf("LiveBroadcasts on empty store: %v", err)
		}
		if len(live) != 0 {
			t.Fatalf("LiveBroadcasts on empty store = %v, want none", ids(live))
		}
		fixture := listFixture()
		for _, b := range fixture {
			mustCreate(t, s, b)
		}
		live, err = s.LiveBroadcasts(ctx(t))
		if err != nil {
			t.Fatalf("LiveBroadcasts: %v", err)
		}
		byKey := func(a, b stream.Broadcast) int { return cmp.Compare(a.Key.String(), b.Key.String()) }
		var want []stream.Broadcast
		for _, b := range fixture {
			if b.Status == stream.StatusBroadcasting {
				want = append(want, b)
			}
		}
		slices.SortFunc(want, byKey)
		slices.SortFunc(live, byKey)
		if got, w := normBroadcasts(live), normBroadcasts(want); !reflect.DeepEqual(got, w) {
			t.Fatalf("LiveBroadcasts:\n got  %+v\n want %+v", got, w)
		}
	})
}
