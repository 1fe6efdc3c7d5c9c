package bbolt

import (
	"cmp"
	"slices"
	"strings"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// matches reports whether b passes q's status and search filters.
func matches(b stream.Broadcast, q ports.ListQuery) bool {
	if q.Status != "" && b.Status != q.Status {
		return false
	}
	if q.Search != "" && !strings.Contains(string(b.Key.ID), q.Search) && !strings.Contains(b.Name, q.Search) {
		return false
	}
	return true
}

// sortBroadcasts orders bs by "name", "date" (creation) or "status", and by
// creation for any other value; ties fall back to creation time, then id, so
// that paging is stable.
func sortBroadcasts(bs []stream.Broadcast, by string, desc bool) {
	byCreation := func(a, b stream.Broadcast) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Key.ID, b.Key.ID))
	}
	less := byCreation
	switch by {
	case "name":
		less = func(a, b stream.Broadcast) int { return cmp.Or(cmp.Compare(a.Name, b.Name), byCreation(a, b)) }
	case "status":
		less = func(a, b stream.Broadcast) int { return cmp.Or(cmp.Compare(a.Status, b.Status), byCreation(a, b)) }
	}
	if desc {
		slices.SortFunc(bs, func(a, b stream.Broadcast) int { return less(b, a) })
		return
	}
	slices.SortFunc(bs, less)
}

// page returns bs[offset:offset+limit] clamped to bs; limit 0 means no limit.
func page(bs []stream.Broadcast, offset, limit int) []stream.Broadcast {
	offset = min(max(offset, 0), len(bs))
	end := len(bs)
	if limit > 0 {
		end = min(offset+limit, len(bs))
	}
	return append([]stream.Broadcast{}, bs[offset:end]...)
}
