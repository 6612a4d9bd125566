package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/kitbuild/kit/core/graph"
)

func (s *Store) actionPath(key graph.Key) string {
	return s.path(actionsDir, key.Hex()+".json")
}

func (s *Store) namePath(name string) string {
	return s.path(namesDir, graph.FromBytes([]byte(name)).Hex()+".json")
}

// GetAction returns the action cached under key, or nil (and no error) on a
// miss. An entry whose output blobs are not all present with their recorded
// sizes is a miss. A hit marks the entry as used now, for Prune.
func (s *Store) GetAction(key graph.Key) (*graph.Action, error) {
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("cache: get action: %w", err)
	}
	p := s.actionPath(key)
	a, err := readAction(p)
	if err != nil || a == nil {
		return nil, err
	}
	if a.Key != key || !s.complete(a) {
		return nil, nil
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // best effort: a read-only cache still serves hits
	return a, nil
}

// complete reports whether every output blob of a is present with its
// recorded size.
func (s *Store) complete(a *graph.Action) bool {
	for _, o := range a.Outputs {
		n, err := s.Stat(o.Digest)
		if err != nil || n != o.Size {
			return false
		}
	}
	return true
}

// readAction reads an action file. A missing or undecodable file is a miss
// (nil, nil): entries are written atomically, so a damaged one can only come
// from outside kit, and recomputing it is the safe answer.
func readAction(p string) (*graph.Action, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: read action %s: %w", p, err)
	}
	a, err := decodeAction(b)
	if err != nil {
		return nil, nil
	}
	return a, nil
}

// actionRecord is the on-disk form of an action. Params are kept byte for
// byte (explain compares them): inline when encoding/json reproduces them
// exactly (compact JSON), else base64 in ParamsBytes.
type actionRecord struct {
	graph.Action
	ParamsBytes *[]byte `json:"paramsBytes,omitempty"`
}

func encodeAction(a *graph.Action) ([]byte, error) {
	r := actionRecord{Action: *a}
	b, err := marshalRecord(&r)
	if err == nil && len(a.Components.Params) > 0 {
		if back, derr := decodeAction(b); derr == nil && bytes.Equal(back.Components.Params, a.Components.Params) {
			return b, nil
		}
	}
	p := append([]byte{}, a.Components.Params...)
	r.Components.Params = nil
	r.ParamsBytes = &p
	return marshalRecord(&r)
}

func marshalRecord(r *actionRecord) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeAction parses and checks an action entry.
func decodeAction(b []byte) (*graph.Action, error) {
	var r actionRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	a := r.Action
	if r.ParamsBytes != nil {
		a.Components.Params = *r.ParamsBytes
	}
	if err := a.Key.Validate(); err != nil {
		return nil, err
	}
	for _, o := range a.Outputs {
		if err := o.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		if o.Size < 0 {
			return nil, fmt.Errorf("output %q: negative size %d", o.Name, o.Size)
		}
	}
	return &a, nil
}

// PutAction records an action atomically; it also becomes the last action
// recorded for a.Name. Every output blob must already be in the store.
func (s *Store) PutAction(a *graph.Action) error {
	if a == nil {
		return errors.New("cache: put action: nil action")
	}
	if err := a.Key.Validate(); err != nil {
		return fmt.Errorf("cache: put action %q: %w", a.Name, err)
	}
	for _, o := range a.Outputs {
		if err := s.waitDurable(o.Digest); err != nil {
			return fmt.Errorf("cache: put action %s (%s): output %q: %w", a.Key, a.Name, o.Name, err)
		}
		n, err := s.Stat(o.Digest)
		if err != nil {
			return fmt.Errorf("cache: put action %s (%s): output %q: %w", a.Key, a.Name, o.Name, err)
		}
		if n != o.Size {
			return fmt.Errorf("cache: put action %s (%s): output %q: blob %s has %d bytes, the output says %d",
				a.Key, a.Name, o.Name, o.Digest, n, o.Size)
		}
	}
	c := *a
	if c.Created.IsZero() {
		c.Created = time.Now().UTC()
	}
	b, err := encodeAction(&c)
	if err != nil {
		return fmt.Errorf("cache: put action %s: %w", a.Key, err)
	}
	if err := s.syncBlobs(); err != nil {
		return fmt.Errorf("cache: put action %s (%s): %w", a.Key, a.Name, err)
	}
	if err := s.writeAtomic(s.actionPath(a.Key), b, syncLazy); err != nil {
		return fmt.Errorf("cache: put action %s (%s): %w", a.Key, a.Name, err)
	}
	if a.Name != "" {
		// Only explain reads names/; a damaged entry reads as none.
		if err := s.writeAtomic(s.namePath(a.Name), b, syncNone); err != nil {
			return fmt.Errorf("cache: put action %s: name %q: %w", a.Key, a.Name, err)
		}
	}
	return nil
}

// LastAction returns the last action recorded for a node name, or nil. Its
// outputs may have been pruned since; it serves to explain a miss.
func (s *Store) LastAction(name string) (*graph.Action, error) {
	a, err := readAction(s.namePath(name))
	if err != nil || a == nil {
		return nil, err
	}
	if a.Name != name {
		return nil, nil
	}
	return a, nil
}
