package iso9660

import (
	"fmt"
	"path"
	"sort"
	"time"
)

// inodeInfo is what a layout knows of one inode (a node, or the node that
// hard links name).
type inodeInfo struct {
	lba   uint32
	size  uint32
	ino   uint32
	nlink uint32
}

// dirInfo is one directory of a layout, in path table order.
type dirInfo struct {
	n       *node
	ident   isoIdent // in its parent ("" for the root)
	num     uint16   // path table number, from 1
	parent  *dirInfo
	records []*record
	size    uint32 // extent bytes, a whole number of sectors
}

// record is one directory record.
type record struct {
	inode *node  // whose extent and metadata the record shows
	ident []byte // 0x00 for ".", 0x01 for "..", else the identifier
	su    []byte // inline system use area, even-sized
	ce    *cePiece
	ceAt  int // offset of the CE entry in su when ce != nil
	date  time.Time
	dir   bool
}

func (r *record) len() int {
	n := 33 + len(r.ident)
	if len(r.ident)%2 == 0 {
		n++
	}
	return n + len(r.su)
}

// dataFile is one extent of file data, in write order.
type dataFile struct {
	n    *node
	info *inodeInfo
}

// layout is a whole image placed on sectors.
type layout struct {
	inodes     map[*node]*inodeInfo
	dirs       []*dirInfo
	files      []dataFile
	pieces     []*cePiece
	pathTable  int64 // bytes of one path table
	lPathLBA   uint32
	mPathLBA   uint32
	bootRecord bool
	catalogLBA uint32
	catalog    *node // the boot catalog's node (named or not)
	bios, efi  *node
	ceLBA      uint32
	ceSectors  uint32
	total      uint32 // sectors, with padding
	dataEnd    uint32 // sectors before the padding
}

// plan lays the image out; it reads no file contents.
func (im *Image) plan() (*layout, error) {
	l := &layout{inodes: map[*node]*inodeInfo{}}

	// The boot catalog is a file of its own (named in the tree unless
	// hidden), whose extent is the catalog sector.
	boot := im.o.biosBoot != "" || im.o.efiBoot != ""
	var catParent *node
	if boot {
		l.bootRecord = true
		catPath := "boot.catalog"
		if im.o.catalog != "" {
			catPath = im.o.catalog
		}
		cp, err := cleanPath(catPath)
		if err != nil {
			return nil, fmt.Errorf("iso9660: boot catalog: %w", err)
		}
		l.catalog = &node{name: path.Base(cp), path: cp,
			e: Entry{Path: cp, Type: TypeFile, Mode: 0o444, ModTime: im.epoch}}
		if !im.o.catalogHide {
			if _, ok := im.nodes[cp]; ok {
				return nil, fmt.Errorf("iso9660: boot catalog %s: %w", cp, ErrExists)
			}
			dir := path.Dir(cp)
			if dir == "." {
				dir = ""
			}
			p, ok := im.nodes[dir]
			if !ok || p.e.Type != TypeDir {
				return nil, fmt.Errorf("iso9660: boot catalog %s: directory %q is not in the image", cp, dir)
			}
			catParent = p
			l.catalog.parent = p
		}
		for _, b := range []struct {
			p   string
			dst **node
		}{{im.o.biosBoot, &l.bios}, {im.o.efiBoot, &l.efi}} {
			if b.p == "" {
				continue
			}
			bp, err := cleanPath(b.p)
			if err != nil {
				return nil, fmt.Errorf("iso9660: boot image: %w", err)
			}
			n, ok := im.nodes[bp]
			if !ok || n.inode().e.Type != TypeFile {
				return nil, fmt.Errorf("iso9660: boot image %s: no such file in the image", bp)
			}
			*b.dst = n.inode()
		}
		if len(im.o.hybridMBR) > 0 && l.bios == nil {
			return nil, fmt.Errorf("iso9660: a hybrid MBR needs a BIOS boot image")
		}
	}
	if len(im.o.hybridMBR) > 0 && len(im.o.hybridMBR) < 432 {
		return nil, fmt.Errorf("iso9660: hybrid MBR template is %d bytes, want at least 432", len(im.o.hybridMBR))
	}

	// children lists each directory's names in byte order, with the
	// catalog put in its place.
	children := func(d *node) []*node {
		names := sortedNames(d.children)
		out := make([]*node, 0, len(names)+1)
		for _, name := range names {
			out = append(out, d.children[name])
		}
		if d == catParent {
			out = append(out, l.catalog)
			sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
		}
		return out
	}

	// Inode numbers and link counts, in depth-first byte order (the order
	// of a normalized tar); data extents in the same order.
	var ino uint32
	var walk func(d *node) error
	walk = func(d *node) error {
		info := &inodeInfo{nlink: 2}
		ino++
		info.ino = ino
		l.inodes[d] = info
		for _, c := range children(d) {
			if c.e.Type == TypeDir {
				info.nlink++
				if err := walk(c); err != nil {
					return err
				}
				continue
			}
			in := c.inode()
			ci, ok := l.inodes[in]
			if !ok {
				ino++
				ci = &inodeInfo{ino: ino}
				if in.e.Type == TypeFile && in != l.catalog {
					ci.size = uint32(in.e.Data.Size())
					l.files = append(l.files, dataFile{n: in, info: ci})
				}
				l.inodes[in] = ci
			}
			ci.nlink++
		}
		return nil
	}
	if err := walk(im.root); err != nil {
		return nil, err
	}
	if l.catalog != nil {
		if _, ok := l.inodes[l.catalog]; !ok { // hidden
			ino++
			l.inodes[l.catalog] = &inodeInfo{ino: ino, nlink: 1}
		}
		l.inodes[l.catalog].size = sectorSize
	}

	// Directories in path table order: breadth first, each directory's
	// subdirectories by identifier.
	rootInfo := &dirInfo{n: im.root, num: 1}
	rootInfo.parent = rootInfo
	l.dirs = []*dirInfo{rootInfo}
	type child struct {
		n     *node
		ident isoIdent
	}
	sortedKids := map[*node][]child{}
	for i := 0; i < len(l.dirs); i++ {
		d := l.dirs[i]
		kids := children(d.n)
		names := make([]string, len(kids))
		isDir := make([]bool, len(kids))
		for j, k := range kids {
			names[j], isDir[j] = k.name, k.e.Type == TypeDir
		}
		idents := uniqueIdents(names, isDir)
		cs := make([]child, len(kids))
		for j := range kids {
			cs[j] = child{kids[j], idents[j]}
		}
		sort.SliceStable(cs, func(a, b int) bool { return lessIdent(cs[a].ident, cs[b].ident) })
		sortedKids[d.n] = cs
		for _, c := range cs {
			if c.n.e.Type == TypeDir {
				if len(l.dirs) >= 0xFFFF {
					return nil, fmt.Errorf("iso9660: more than %d directories", 0xFFFF-1)
				}
				l.dirs = append(l.dirs, &dirInfo{n: c.n, ident: c.ident, num: uint16(len(l.dirs) + 1), parent: d})
			}
		}
	}
	for _, d := range l.dirs {
		l.pathTable += int64(8 + pathIdentLen(d))
		if l.pathTable%2 == 1 {
			l.pathTable++
		}
	}

	// Directory records and their Rock Ridge entries.
	for _, d := range l.dirs {
		dot := im.dirRecord(l, d.n, []byte{0}, d.n == im.root)
		dotdot := im.dirRecord(l, d.parent.n, []byte{1}, false)
		d.records = append(d.records, dot, dotdot)
		for _, c := range sortedKids[d.n] {
			r := &record{inode: c.n.inode(), ident: []byte(c.ident.String()), date: c.n.inode().e.ModTime, dir: c.n.e.Type == TypeDir}
			entries := [][]byte{im.px(l, r.inode)}
			entries = append(entries, suNM(c.n.name)...)
			switch e := r.inode.e; e.Type {
			case TypeSymlink:
				entries = append(entries, suSL(e.Target)...)
			case TypeCharDev, TypeBlockDev:
				entries = append(entries, suPN(e.Major, e.Minor))
			}
			entries = append(entries, suTF(r.date))
			r.su, r.ce, r.ceAt = splitSU(entries, suAvail(r.ident))
			d.records = append(d.records, r)
		}
		var off int64
		for _, r := range d.records {
			n := int64(r.len())
			if off%sectorSize+n > sectorSize {
				off += sectorSize - off%sectorSize
			}
			off += n
		}
		d.size = uint32(sectors(off) * sectorSize)
		for _, r := range d.records {
			for p := r.ce; p != nil; p = p.next {
				l.pieces = append(l.pieces, p)
			}
		}
	}

	// Sectors: system area, descriptors, catalog, path tables, directories,
	// continuation areas, file data.
	lba := uint32(16 + 1) // primary volume descriptor
	if l.bootRecord {
		lba++
	}
	lba++ // terminator
	if l.catalog != nil {
		l.catalogLBA = lba
		l.inodes[l.catalog].lba = lba
		lba++
	}
	pt := uint32(sectors(l.pathTable))
	l.lPathLBA = lba
	l.mPathLBA = lba + pt
	lba += 2 * pt
	for _, d := range l.dirs {
		info := l.inodes[d.n]
		info.lba, info.size = lba, d.size
		lba += d.size / sectorSize
	}
	l.ceLBA = lba
	var off uint32
	for _, p := range l.pieces {
		if off+uint32(len(p.data)) > sectorSize {
			lba++
			off = 0
		}
		p.lba, p.offset = lba, off
		off += uint32(len(p.data))
	}
	if off > 0 {
		lba++
	}
	l.ceSectors = lba - l.ceLBA
	for _, f := range l.files {
		if f.info.size == 0 {
			continue
		}
		f.info.lba = lba
		n := sectors(int64(f.info.size))
		if uint64(lba)+uint64(n) > 1<<32-1 {
			return nil, fmt.Errorf("iso9660: image larger than 8 TiB")
		}
		lba += uint32(n)
	}
	l.dataEnd = lba
	l.total = lba
	if len(im.o.hybridMBR) > 0 {
		const cyl = 64 * 32 * 512 / sectorSize // sectors of one cylinder (1 MiB)
		l.total = (lba + cyl - 1) / cyl * cyl
	}
	return l, nil
}

// dirRecord is the "." (self) or ".." record of a directory.
func (im *Image) dirRecord(l *layout, d *node, ident []byte, root bool) *record {
	r := &record{inode: d, ident: ident, date: d.e.ModTime, dir: true}
	var entries [][]byte
	if root {
		entries = append(entries, suSP())
	}
	entries = append(entries, im.px(l, d), suTF(d.e.ModTime))
	if root {
		entries = append(entries, suER())
	}
	r.su, r.ce, r.ceAt = splitSU(entries, suAvail(ident))
	return r
}

func (im *Image) px(l *layout, n *node) []byte {
	info := l.inodes[n]
	return suPX(modeBits(n.e), info.nlink, n.e.UID, n.e.GID, info.ino)
}

// suAvail is the room for system use entries in a record with ident,
// keeping the record's length even and at most 255.
func suAvail(ident []byte) int {
	n := 33 + len(ident)
	if len(ident)%2 == 0 {
		n++
	}
	return 254 - n
}

func pathIdentLen(d *dirInfo) int {
	if d.num == 1 {
		return 1
	}
	return len(d.ident.name)
}
