package qcow2

import (
	"testing"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
)

// TestPlan checks the layout arithmetic at sizes too large to write in a test: refcount
// blocks and table clusters must cover every cluster of the file, themselves included.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		size  int64
		every int64 // every n-th cluster holds data
	}{
		{512, 1},
		{1 << 30, 1},
		{5 << 30, 1},
		{64 << 30, 3},
		{1 << 40, 1},
		{1 << 40, 1 << 20},
	} {
		m := vdisk.NewMap(tc.size, ClusterSize)
		for i := int64(0); i < m.Blocks; i += tc.every {
			m.Set(i)
		}
		l := plan(tc.size, m)
		if got := 1 + l.l1Clusters + l.rtClusters + l.rbCount + l.l2Count + l.data; got != l.total {
			t.Errorf("%+v: structures add up to %d clusters, total %d", tc, got, l.total)
		}
		if l.rbCount*rbEntries < l.total || (l.rbCount-1)*rbEntries >= l.total {
			t.Errorf("%+v: %d refcount blocks for %d clusters", tc, l.rbCount, l.total)
		}
		if l.rtClusters*ClusterSize/8 < l.rbCount {
			t.Errorf("%+v: refcount table of %d clusters for %d blocks", tc, l.rtClusters, l.rbCount)
		}
		if l.l1Size*l2Entries < l.guest || l.dataStart+l.data != l.total {
			t.Errorf("%+v: bad layout %+v", tc, l)
		}
	}
}
