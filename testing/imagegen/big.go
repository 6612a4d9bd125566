package imagegen

import (
	"archive/tar"
	"fmt"
	"io"
	"math/rand/v2"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BigOptions shape a large image for benchmarks.
type BigOptions struct {
	// MB is the total amount of file data in MiB, spread over the layers.
	MB int
	// Layers is the number of layers; default 1.
	Layers int
	// Semi makes the data semi-compressible (half of every 4 KiB block is
	// zeros) instead of incompressible.
	Semi bool
	// Seed varies the data; the same options always give the same image.
	Seed uint64
}

// Big returns an image holding MB MiB of pseudo-random data in 1 MiB files
// (big/<layer>/<n>.bin). Layer contents are generated on demand while they
// are read, so memory stays flat whatever the size.
func Big(o BigOptions) (v1.Image, error) {
	if o.Layers <= 0 {
		o.Layers = 1
	}
	if o.MB < 0 {
		return nil, fmt.Errorf("imagegen: big image of %d MB", o.MB)
	}
	layers := make([]v1.Layer, o.Layers)
	for i := range layers {
		n := o.MB / o.Layers
		if i < o.MB%o.Layers {
			n++
		}
		l, err := layerFromOpener(func() (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeBig(pw, o, i, n)) }()
			return pr, nil
		}, false, false)
		if err != nil {
			return nil, err
		}
		layers[i] = l
	}
	return imageFromLayers(Config{}, layers...)
}

func writeBig(w io.Writer, o BigOptions, layer, files int) error {
	tw := tar.NewWriter(w)
	dir := fmt.Sprintf("big/%d/", layer)
	for _, d := range []string{"big/", dir} {
		if err := tw.WriteHeader(Dir(d).header()); err != nil {
			return err
		}
	}
	const mib = 1 << 20
	buf := make([]byte, 4096)
	for n := 0; n < files; n++ {
		h := File{Name: fmt.Sprintf("%s%04d.bin", dir, n)}.header()
		h.Size = mib
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(layer)<<32|uint64(n)))
		for off := 0; off < mib; off += len(buf) {
			for i := 0; i < len(buf); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8; j++ {
					buf[i+j] = byte(v >> (8 * j))
				}
			}
			if o.Semi {
				clear(buf[len(buf)/2:])
			}
			if _, err := tw.Write(buf); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
