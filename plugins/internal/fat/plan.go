package fat

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Directory entry attributes.
const (
	attrReadOnly  = 0x01
	attrHidden    = 0x02
	attrSystem    = 0x04
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLongName  = 0x0f
)

// Cluster-count bounds of the variants (Microsoft's FAT specification).
const (
	minClusters16 = 4085
	maxClusters16 = 65524
	minClusters32 = 65525
	maxClusters32 = 0x0FFFFFF4
	maxFileSize   = 1<<32 - 1
	maxDirEntries = 65536
)

// node is a file or directory of the planned volume.
type node struct {
	path     string // cleaned, slash-separated ("" for the root)
	name     string
	dir      bool
	file     File
	parent   *node
	children []*node

	short    [11]byte
	long     bool // needs long-name entries
	first    uint32
	clusters uint32
	// dirBytes is the size of a directory's entries.
	dirBytes int64
}

// geometry is the on-disk layout of a volume of a given size.
type geometry struct {
	typ          Type
	totalSectors uint32
	spc          uint32 // sectors per cluster
	reserved     uint32
	fatSectors   uint32
	rootEntries  uint32 // FAT16 only
	rootSectors  uint32 // FAT16 only
	dataStart    uint32 // first sector of cluster 2
	clusters     uint32 // data clusters
}

func (g geometry) clusterBytes() int64 { return int64(g.spc) * SectorSize }

// Volume is a planned FAT volume: where every file and directory lies.
// Write puts it on disk.
type Volume struct {
	cfg    config
	size   int64
	geo    geometry
	root   *node
	dirs   []*node // allocation order; root first
	files  []*node // allocation order
	byPath map[string]*node
	used   uint32 // allocated clusters
}

// Extent is where a file's content lies: Clusters contiguous clusters from
// FirstCluster, the first at byte Offset of the volume. An empty file has no
// clusters.
type Extent struct {
	FirstCluster uint32
	Clusters     uint32
	Offset       int64
	Size         int64
}

// Sectors lists the volume-relative 512-byte sectors that hold the file's
// bytes, in order.
func (e Extent) Sectors() []int64 {
	n := (e.Size + SectorSize - 1) / SectorSize
	out := make([]int64, n)
	for i := range out {
		out[i] = e.Offset/SectorSize + int64(i)
	}
	return out
}

// Type is the planned FAT variant.
func (v *Volume) Type() Type { return v.geo.typ }

// Size is the volume's size in bytes (a whole number of sectors).
func (v *Volume) Size() int64 { return int64(v.geo.totalSectors) * SectorSize }

// ClusterSize is the size of a cluster in bytes.
func (v *Volume) ClusterSize() int64 { return v.geo.clusterBytes() }

// FreeClusters is the number of clusters no file or directory uses.
func (v *Volume) FreeClusters() uint32 { return v.geo.clusters - v.used }

// Extent returns where the file at path lies.
func (v *Volume) Extent(path string) (Extent, error) {
	parts, err := splitPath(path)
	if err != nil {
		return Extent{}, fmt.Errorf("fat: %s: %w", path, err)
	}
	n := v.byPath[strings.ToUpper(strings.Join(parts, "/"))]
	if n == nil || n.dir {
		return Extent{}, fmt.Errorf("fat: %s: no such file in the volume", path)
	}
	e := Extent{FirstCluster: n.first, Clusters: n.clusters, Size: n.file.Size}
	if n.clusters > 0 {
		e.Offset = v.clusterOffset(n.first)
	}
	return e, nil
}

func (v *Volume) clusterOffset(c uint32) int64 {
	return int64(v.geo.dataStart)*SectorSize + int64(c-2)*v.geo.clusterBytes()
}

// Plan lays out files on a volume of size bytes (rounded down to whole
// sectors). It fails with ErrNoSpace when they do not fit.
func Plan(size int64, files []File, opts ...Option) (*Volume, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	root, byPath, err := buildTree(files)
	if err != nil {
		return nil, err
	}
	return plan(cfg, size, root, byPath)
}

// MinSize returns the smallest volume size, in whole 64 KiB units, that
// holds files with the given options.
func MinSize(files []File, opts ...Option) (int64, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return 0, err
	}
	root, byPath, err := buildTree(files)
	if err != nil {
		return 0, err
	}
	const unit = 64 << 10
	fits := func(s int64) (bool, error) {
		_, err := plan(cfg, s, root, byPath)
		if errors.Is(err, ErrNoSpace) {
			return false, nil
		}
		return err == nil, err
	}
	// A lower bound: the payload in sectors.
	var payload int64
	for _, f := range files {
		payload += (f.Size + SectorSize - 1) / SectorSize * SectorSize
	}
	lo := payload / unit // lo*unit does not fit (or is 0)
	hi := lo + 1
	for {
		ok, err := fits(hi * unit)
		if err != nil {
			return 0, err
		}
		if ok {
			break
		}
		if hi*unit > 2<<40 {
			return 0, fmt.Errorf("fat: files need more than 2 TiB: %w", ErrNoSpace)
		}
		lo, hi = hi, hi+(hi-lo)*2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := fits(mid * unit)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi * unit, nil
}

// buildTree checks the paths and makes the directory tree, with implied
// parents, children sorted by name.
func buildTree(files []File) (*node, map[string]*node, error) {
	root := &node{dir: true}
	byPath := map[string]*node{"": root}
	for _, f := range files {
		parts, err := splitPath(f.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("fat: %s: %w", f.Path, err)
		}
		if !f.Dir {
			if f.Size < 0 || f.Size > maxFileSize {
				return nil, nil, fmt.Errorf("fat: %s: size %d outside 0..%d", f.Path, f.Size, int64(maxFileSize))
			}
			if f.Open == nil && f.Size > 0 {
				return nil, nil, fmt.Errorf("fat: %s: no content (Open is nil)", f.Path)
			}
		}
		parent := root
		for i, name := range parts {
			p := strings.Join(parts[:i+1], "/")
			key := strings.ToUpper(p)
			last := i == len(parts)-1
			n := byPath[key]
			switch {
			case n == nil:
				n = &node{path: p, name: name, dir: !last || f.Dir, parent: parent}
				if last && !f.Dir {
					n.file = f
				}
				byPath[key] = n
				parent.children = append(parent.children, n)
			case n.path != p:
				return nil, nil, fmt.Errorf("fat: %s: names %s and %s differ only in case", f.Path, n.path, p)
			case !n.dir && last:
				return nil, nil, fmt.Errorf("fat: %s: given twice", f.Path)
			case !n.dir:
				return nil, nil, fmt.Errorf("fat: %s: %s is a file, not a directory", f.Path, n.path)
			case last && !f.Dir:
				return nil, nil, fmt.Errorf("fat: %s: is both a file and a directory", f.Path)
			}
			parent = n
		}
	}
	var walk func(d *node) error
	walk = func(d *node) error {
		sort.Slice(d.children, func(i, j int) bool { return d.children[i].name < d.children[j].name })
		if err := assignShortNames(d); err != nil {
			return err
		}
		for _, c := range d.children {
			if c.dir {
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, nil, err
	}
	return root, byPath, nil
}

// assignShortNames gives every child of d its 8.3 name: exact 8.3 names
// first (they are kept), then aliases for the long names, in sorted order.
func assignShortNames(d *node) error {
	a := newAliases()
	for _, c := range d.children {
		if s, ok := exactShort(c.name); ok {
			c.short = s
			a.used[s] = true
		}
	}
	for _, c := range d.children {
		if _, ok := exactShort(c.name); ok {
			continue
		}
		s, err := a.shortName(c.name)
		if err != nil {
			return fmt.Errorf("fat: %s: %w", c.path, err)
		}
		c.short, c.long = s, true
	}
	return nil
}

// plan computes the geometry for size and allocates clusters.
func plan(cfg config, size int64, root *node, byPath map[string]*node) (*Volume, error) {
	v := &Volume{cfg: cfg, size: size, root: root, byPath: byPath}
	// Directory sizes and the allocation order.
	var walkDirs func(d *node) error
	walkDirs = func(d *node) error {
		entries := int64(0)
		if d != root {
			entries = 2 // "." and ".."
		} else if cfg.label != "" {
			entries = 1
		}
		for _, c := range d.children {
			entries++
			if c.long {
				entries += int64(lfnSlots(c.name))
			}
		}
		if entries > maxDirEntries {
			return fmt.Errorf("fat: directory /%s: %d entries, more than %d", d.path, entries, maxDirEntries)
		}
		d.dirBytes = entries * 32
		v.dirs = append(v.dirs, d)
		for _, c := range d.children {
			if c.dir {
				if err := walkDirs(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	v.dirs = v.dirs[:0]
	if err := walkDirs(root); err != nil {
		return nil, err
	}
	v.files = v.files[:0]
	var walkFiles func(d *node)
	walkFiles = func(d *node) {
		for _, c := range d.children {
			if c.dir {
				walkFiles(c)
			} else {
				v.files = append(v.files, c)
			}
		}
	}
	walkFiles(root)

	rootEntries := uint32(512)
	if n := uint32(root.dirBytes / 32); n > rootEntries {
		rootEntries = (n + 15) / 16 * 16
	}
	geo, err := chooseGeometry(cfg.typ, size, rootEntries)
	if err != nil {
		return nil, err
	}
	v.geo = geo

	next := uint32(2)
	cb := geo.clusterBytes()
	alloc := func(n *node, bytes int64) {
		c := uint32((bytes + cb - 1) / cb)
		if c == 0 {
			n.first, n.clusters = 0, 0
			return
		}
		n.first, n.clusters = next, c
		next += c
	}
	for _, d := range v.dirs {
		if d == root && geo.typ == FAT16 {
			d.first, d.clusters = 0, 0
			continue
		}
		b := d.dirBytes
		if b == 0 {
			b = 32 // an empty FAT32 root still has a cluster
		}
		alloc(d, b)
	}
	for _, f := range v.files {
		alloc(f, f.file.Size)
		if uint64(next)-2 > uint64(geo.clusters) {
			break
		}
	}
	v.used = next - 2
	if uint64(next)-2 > uint64(geo.clusters) {
		need := int64(0)
		for _, d := range v.dirs {
			need += int64(d.clusters)
		}
		for _, f := range v.files {
			need += (f.file.Size + cb - 1) / cb
		}
		return nil, fmt.Errorf("fat: %d files need %d clusters of %d bytes, a %s volume of %d bytes has %d: %w",
			len(v.files), need, cb, geo.typ, size, geo.clusters, ErrNoSpace)
	}
	return v, nil
}

// chooseGeometry picks the variant and cluster size for a volume of size
// bytes, following Microsoft's tables for FAT32 and the smallest clusters
// that keep the cluster count in range for FAT16.
func chooseGeometry(typ Type, size int64, rootEntries uint32) (geometry, error) {
	if size/SectorSize > 0xFFFFFFFF {
		return geometry{}, fmt.Errorf("fat: volume of %d bytes: more than 2^32 sectors", size)
	}
	total := uint32(size / SectorSize)
	if typ == Auto || typ == FAT32 {
		var spc uint32
		switch {
		case size <= 260<<20:
			spc = 1
		case size <= 8<<30:
			spc = 8
		case size <= 16<<30:
			spc = 16
		case size <= 32<<30:
			spc = 32
		default:
			spc = 64
		}
		g, ok := layout(FAT32, total, spc, 32, 0)
		if ok && g.clusters >= minClusters32 && g.clusters <= maxClusters32 {
			return g, nil
		}
		if typ == FAT32 {
			return geometry{}, fmt.Errorf("fat: a FAT32 volume needs at least %d clusters (about 33 MiB), %d bytes is too small: %w", minClusters32, size, ErrNoSpace)
		}
	}
	for spc := uint32(1); spc <= 64; spc *= 2 {
		g, ok := layout(FAT16, total, spc, 1, rootEntries)
		if !ok || g.clusters < minClusters16 {
			return geometry{}, fmt.Errorf("fat: a FAT16 volume needs at least %d clusters (about 2.1 MB), %d bytes is too small: %w", minClusters16, size, ErrNoSpace)
		}
		if g.clusters <= maxClusters16 {
			return g, nil
		}
	}
	return geometry{}, fmt.Errorf("fat: %d bytes is too large for FAT16 (at most 2 GiB)", size)
}

// layout computes the FAT size with the formula of Microsoft's FAT
// specification (which may overestimate by a sector, never under).
func layout(typ Type, total, spc, reserved, rootEntries uint32) (geometry, bool) {
	g := geometry{typ: typ, totalSectors: total, spc: spc, reserved: reserved, rootEntries: rootEntries}
	g.rootSectors = (rootEntries*32 + SectorSize - 1) / SectorSize
	if uint64(total) <= uint64(reserved)+uint64(g.rootSectors) {
		return g, false
	}
	tmp1 := uint64(total) - uint64(reserved) - uint64(g.rootSectors)
	tmp2 := uint64(256)*uint64(spc) + 2
	if typ == FAT32 {
		tmp2 /= 2
	}
	g.fatSectors = uint32((tmp1 + tmp2 - 1) / tmp2)
	meta := uint64(reserved) + 2*uint64(g.fatSectors) + uint64(g.rootSectors)
	if uint64(total) <= meta {
		return g, false
	}
	g.dataStart = uint32(meta)
	g.clusters = uint32((uint64(total) - meta) / uint64(spc))
	// The FAT must address every cluster (the formula guarantees it; keep
	// the check for the record).
	per := uint64(SectorSize / 2)
	if typ == FAT32 {
		per = SectorSize / 4
	}
	if uint64(g.fatSectors)*per < uint64(g.clusters)+2 {
		return g, false
	}
	return g, true
}
