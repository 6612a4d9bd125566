package plugin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/sdk"
)

// describeKind and describeVersion make the action cache key of a plugin's
// description: the binary's checksum decides the answer (a plugin's
// describe is constant for its binary), and describeVersion changes when
// the host starts reading the description differently.
const (
	describeKind    = "plugin-describe"
	describeVersion = "1"
	describeOutput  = "description.json"
	maxDescription  = 4 << 20
)

func describeKey(d graph.Digest) (graph.Key, graph.KeyComponents) {
	c := graph.KeyComponents{Kind: describeKind, Version: describeVersion, Plugin: string(d), Params: json.RawMessage("{}")}
	return c.Sum(), c
}

// cachedDescription returns the description cached for a binary checksum.
// Anything wrong with the entry is a miss.
func (h *Host) cachedDescription(ctx context.Context, d graph.Digest) (*sdk.Description, bool) {
	if h.store == nil {
		return nil, false
	}
	key, _ := describeKey(d)
	a, err := h.store.GetAction(key)
	if err != nil || a == nil || len(a.Outputs) != 1 {
		return nil, false
	}
	o := a.Outputs[0]
	if o.Size > maxDescription {
		return nil, false
	}
	r, err := h.store.Open(ctx, o.Digest)
	if err != nil {
		return nil, false
	}
	defer r.Close()
	var desc sdk.Description
	if err := json.NewDecoder(r).Decode(&desc); err != nil {
		return nil, false
	}
	return &desc, true
}

// storeDescription caches a description; failing to is not an error (the
// plugin is described again next time).
func (h *Host) storeDescription(ctx context.Context, p *Plugin, desc *sdk.Description) {
	if h.store == nil {
		return
	}
	b, err := json.Marshal(desc)
	if err != nil {
		return
	}
	out, err := h.store.PutBytes(ctx, b, "")
	if err != nil {
		h.logf(p.Name, "warn", fmt.Sprintf("caching the description: %v", err))
		return
	}
	key, c := describeKey(p.Digest)
	out.Name, out.MediaType = describeOutput, "application/json"
	if err := h.store.PutAction(&graph.Action{Key: key, Name: "describe plugin " + p.Name, Components: c, Outputs: []graph.Output{out}}); err != nil {
		h.logf(p.Name, "warn", fmt.Sprintf("caching the description: %v", err))
	}
}

func (h *Host) logf(plugin, level, msg string) {
	if h.log != nil {
		h.log(plugin, level, msg)
	}
}
