package freelist

import "testing"

func TestList(t *testing.T) {
	made := 0
	l := New(2, func() *[]byte { made++; b := make([]byte, 8); return &b })
	a, b, c := l.Get(), l.Get(), l.Get()
	if made != 3 {
		t.Fatalf("%d made for 3 Gets on an empty list", made)
	}
	l.Put(a)
	l.Put(b)
	l.Put(c) // over the bound: dropped
	for range 2 {
		if v := l.Get(); v != a && v != b {
			t.Fatal("Get did not return a kept value")
		}
	}
	if made != 3 {
		t.Fatalf("%d made, want the kept values reused", made)
	}
	if l.Get(); made != 4 {
		t.Fatal("a third Get did not make a new value: more than the bound was kept")
	}
}
