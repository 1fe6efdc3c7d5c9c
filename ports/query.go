package ports

import (
	"cmp"
	"slices"
	"strings"

	"github.com/colony-live/colony/core/stream"
)

// Match reports whether b passes q's app, status and search filters.
func (q ListQuery) Match(b stream.Broadcast) bool {
	if b.Key.App != q.App {
		return false
	}
	if q.Status != "" && b.Status != q.Status {
		return false
	}
	if q.Search != "" && !strings.Contains(string(b.Key.ID), q.Search) && !strings.Contains(b.Name, q.Search) {
		return false
	}
	return true
}

// Sort orders bs by q.SortBy: "name", "date" (creation) or "status", and by
// creation for any other value; ties fall back to creation time, then id,
// so that paging is stable. Stores that cannot sort server-side use it.
func (q ListQuery) Sort(bs []stream.Broadcast) {
	byCreation := func(a, b stream.Broadcast) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Key.ID, b.Key.ID))
	}
	less := byCreation
	switch q.SortBy {
	case "name":
		less = func(a, b stream.Broadcast) int { return cmp.Or(cmp.Compare(a.Name, b.Name), byCreation(a, b)) }
	case "status":
		less = func(a, b stream.Broadcast) int { return cmp.Or(cmp.Compare(a.Status, b.Status), byCreation(a, b)) }
	}
	if q.Desc {
		slices.SortFunc(bs, func(a, b stream.Broadcast) int { return less(b, a) })
		return
	}
	slices.SortFunc(bs, less)
}

// Page returns the q.Offset/q.Limit window of bs (a copy); Limit 0 means no limit.
func (q ListQuery) Page(bs []stream.Broadcast) []stream.Broadcast {
	offset := min(max(q.Offset, 0), len(bs))
	end := len(bs)
	if q.Limit > 0 {
		end = min(offset+q.Limit, len(bs))
	}
	return append([]stream.Broadcast{}, bs[offset:end]...)
}
