package partition

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found and CI=true: %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// disk makes an empty disk image file of size bytes.
func disk(t testing.TB, size int64) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f, path
}

// sfdiskJSON is the part of `sfdisk --json` the tests read.
type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   uint64 `json:"firstlba"`
		LastLBA    uint64 `json:"lastlba"`
		Partitions []struct {
			Start    uint64 `json:"start"`
			Size     uint64 `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Attrs    string `json:"attrs"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdisk(t *testing.T, path string) sfdiskJSON {
	t.Helper()
	var out sfdiskJSON
	js := run(t, "sfdisk", "--json", path)
	if err := json.Unmarshal([]byte(js), &out); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, js)
	}
	return out
}

func TestMBR(t *testing.T) {
	const size = 64 << 20
	f, path := disk(t, size)
	m := MBR{
		BootCode:      bytes.Repeat([]byte{0x90}, 440),
		DiskSignature: DiskSignature([]byte("seed")),
		Partitions: []MBRPartition{
			{Type: MBRTypeFAT32LBA, Start: 2048, Sectors: 32 << 11, Bootable: true},
			{Type: MBRTypeLinux, Start: 2048 + 32<<11, Sectors: 31 << 11},
		},
	}
	if err := WriteMBR(context.Background(), f, size, m); err != nil {
		t.Fatal(err)
	}
	got := sfdisk(t, path).PartitionTable
	if got.Label != "dos" || got.ID != fmt.Sprintf("0x%08x", m.DiskSignature) {
		t.Errorf("label %q id %q, want dos 0x%08x", got.Label, got.ID, m.DiskSignature)
	}
	if len(got.Partitions) != 2 {
		t.Fatalf("partitions: %+v", got.Partitions)
	}
	for i, want := range m.Partitions {
		p := got.Partitions[i]
		if p.Start != uint64(want.Start) || p.Size != uint64(want.Sectors) || p.Bootable != want.Bootable || p.Type != fmt.Sprintf("%x", want.Type) {
			t.Errorf("partition %d: %+v, want %+v", i+1, p, want)
		}
	}
	// fdisk agrees, and the boot code is where it belongs.
	if out := run(t, "fdisk", "-l", path); !strings.Contains(out, "W95 FAT32 (LBA)") || !strings.Contains(out, "Linux") {
		t.Errorf("fdisk -l:\n%s", out)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Equal(raw[:440], m.BootCode) || raw[510] != 0x55 || raw[511] != 0xAA {
		t.Error("boot code or signature misplaced")
	}
}

func TestCHS(t *testing.T) {
	for _, tc := range []struct {
		lba  uint64
		want []byte
	}{
		{0, []byte{0, 1, 0}},
		{2048, []byte{32, 33, 0}},
		{63 * 255 * 1023, []byte{0, 1 | 3<<6, 0xff}},
		{1 << 32, []byte{254, 0xff, 0xff}},
	} {
		if got := chs(tc.lba); !bytes.Equal(got, tc.want) {
			t.Errorf("chs(%d) = %x, want %x", tc.lba, got, tc.want)
		}
	}
}

func sampleGPT(seed string) GPT {
	return GPT{
		Seed: []byte(seed),
		Partitions: []GPTPartition{
			{Type: TypeEFISystem, Name: "EFI system", FirstLBA: 2048, LastLBA: 2048 + 40<<11 - 1, Attributes: AttrLegacyBIOS},
			{Type: TypeLinuxFilesystem, Name: "root", FirstLBA: 2048 + 40<<11, LastLBA: 2048 + 60<<11 - 1},
		},
	}
}

func TestGPT(t *testing.T) {
	const size = 64 << 20
	f, path := disk(t, size)
	g := sampleGPT("seed")
	if err := WriteGPT(context.Background(), f, size, g); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "sgdisk", "-v", path); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	got := sfdisk(t, path).PartitionTable
	first, last := UsableLBAs(size)
	if got.Label != "gpt" || got.ID != DeriveGUID(g.Seed, "disk").String() || got.FirstLBA != first || got.LastLBA != last {
		t.Errorf("table %+v", got)
	}
	if len(got.Partitions) != 2 {
		t.Fatalf("partitions: %+v", got.Partitions)
	}
	for i, want := range g.Partitions {
		p := got.Partitions[i]
		if p.Start != want.FirstLBA || p.Size != want.LastLBA-want.FirstLBA+1 || p.Type != want.Type.String() || p.Name != want.Name {
			t.Errorf("partition %d: %+v, want %+v", i+1, p, want)
		}
		if p.UUID != DeriveGUID(g.Seed, []string{"partition 1", "partition 2"}[i]).String() {
			t.Errorf("partition %d: uuid %s", i+1, p.UUID)
		}
	}
	if got.Partitions[0].Attrs != "LegacyBIOSBootable" {
		t.Errorf("attributes %q", got.Partitions[0].Attrs)
	}
	if out := run(t, "sgdisk", "-i", "1", path); !strings.Contains(out, "EFI system partition") {
		t.Errorf("sgdisk -i 1:\n%s", out)
	}
}

func TestGPTReproducible(t *testing.T) {
	const size = 64 << 20
	digest := func(g GPT) [32]byte {
		f, path := disk(t, size)
		if err := WriteGPT(context.Background(), f, size, g); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return sha256.Sum256(b)
	}
	a1, a2 := digest(sampleGPT("a")), digest(sampleGPT("a"))
	if a1 != a2 {
		t.Fatal("same table and seed, different bytes")
	}
	if a1 == digest(sampleGPT("b")) {
		t.Fatal("another seed gave the same bytes")
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	const size = 64 << 20
	first, last := UsableLBAs(size)
	for _, tc := range []struct {
		name string
		gpt  GPT
		want string
	}{
		{"overlap", GPT{Partitions: []GPTPartition{{Type: TypeEFISystem, FirstLBA: 2048, LastLBA: 4096}, {Type: TypeEFISystem, FirstLBA: 4096, LastLBA: 5000}}}, "overlap"},
		{"before", GPT{Partitions: []GPTPartition{{Type: TypeEFISystem, FirstLBA: first - 1, LastLBA: 4096}}}, "outside"},
		{"after", GPT{Partitions: []GPTPartition{{Type: TypeEFISystem, FirstLBA: 2048, LastLBA: last + 1}}}, "outside"},
		{"no-type", GPT{Partitions: []GPTPartition{{FirstLBA: 2048, LastLBA: 4096}}}, "no type"},
		{"name", GPT{Partitions: []GPTPartition{{Type: TypeEFISystem, FirstLBA: 2048, LastLBA: 4096, Name: strings.Repeat("x", 37)}}}, "longer"},
		{"bootcode", GPT{BootCode: make([]byte, 441)}, "boot code"},
		{"many", GPT{Partitions: make([]GPTPartition, 129)}, "at most 128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteGPT(ctx, discard{}, size, tc.gpt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		mbr  MBR
		want string
	}{
		{"overlap", MBR{Partitions: []MBRPartition{{Type: 1, Start: 10, Sectors: 10}, {Type: 1, Start: 19, Sectors: 2}}}, "overlap"},
		{"outside", MBR{Partitions: []MBRPartition{{Type: 1, Start: 10, Sectors: size}}}, "not inside"},
		{"five", MBR{Partitions: make([]MBRPartition, 5)}, "at most 4"},
		{"zero", MBR{Partitions: []MBRPartition{{Start: 10, Sectors: 10}}}, "zero type"},
	} {
		t.Run("mbr-"+tc.name, func(t *testing.T) {
			err := WriteMBR(ctx, discard{}, size, tc.mbr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := WriteGPT(ctx, discard{}, 16<<10, GPT{}); err == nil {
		t.Error("a 16 KiB disk took a GPT")
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestGUID(t *testing.T) {
	g := TypeEFISystem
	if g.String() != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" {
		t.Errorf("String: %s", g)
	}
	if b := g.Bytes(); !bytes.Equal(b[:], []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}) {
		t.Errorf("Bytes: %x", b)
	}
	d := DeriveGUID([]byte("x"), "disk")
	if d[6]>>4 != 8 || d[8]>>6 != 2 {
		t.Errorf("derived GUID %s is not version 8, variant 10", d)
	}
	if DeriveGUID([]byte("x"), "disk") != d || DeriveGUID([]byte("x"), "partition 1") == d || DeriveGUID([]byte("y"), "disk") == d {
		t.Error("DeriveGUID is not a function of seed and purpose")
	}
	for _, bad := range []string{"", "C12A7328F81F11D2BA4B00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93G", "C12A7328-F81F-11D2-BA4B_00A0C93EC93B"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) succeeded", bad)
		}
	}
}

func FuzzParseGUID(f *testing.F) {
	f.Add("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	f.Add("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	f.Add("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(g.String(), s) {
			t.Fatalf("ParseGUID(%q).String() = %q", s, g)
		}
		if h, err := ParseGUID(g.String()); err != nil || h != g {
			t.Fatalf("round trip of %q: %v %v", s, h, err)
		}
	})
}
