package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
)

// TarFile opens the regular file named name (a path inside the archive,
// with or without a leading "./" or "/") in the tar archive at tarPath. The
// caller closes the returned reader.
func TarFile(ctx context.Context, tarPath, name string) (io.ReadCloser, error) {
	return nil, errors.New("not implemented")
}

// DecodeConfig decodes a format's JSON config into v, refusing unknown
// fields. A nil or empty config leaves v unchanged.
func DecodeConfig(config json.RawMessage, v any) error {
	return errors.New("not implemented")
}
