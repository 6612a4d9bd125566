package client

import (
	"encoding/json"
	"fmt"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

var kindFromProto = map[pluginv1.Kind]sdk.Kind{
	pluginv1.Kind_KIND_FORMAT: sdk.KindFormat,
	pluginv1.Kind_KIND_UPLOAD: sdk.KindUpload,
	pluginv1.Kind_KIND_RUN:    sdk.KindRun,
}

// fromProtoDescription converts and checks a Describe answer. Components of
// kinds this host does not know (a newer plugin) are skipped.
func fromProtoDescription(r *pluginv1.DescribeResponse) (*sdk.Description, error) {
	d := &sdk.Description{Name: r.GetName(), Version: r.GetVersion(), Protocol: int(r.GetProtocol())}
	for _, pc := range r.GetComponents() {
		kind, ok := kindFromProto[pc.GetKind()]
		if !ok {
			continue
		}
		c := sdk.Component{Kind: kind, Name: pc.GetName(), Version: pc.GetVersion()}
		if s := pc.GetConfigSchema(); len(s) > 0 {
			if !json.Valid(s) {
				return nil, fmt.Errorf("%s %s: config schema is not valid JSON", kind, c.Name)
			}
			c.ConfigSchema = json.RawMessage(s)
		}
		for _, im := range pc.GetImages() {
			c.Images = append(c.Images, sdk.Image{Name: im.GetName(), Default: im.GetDefaultRef()})
		}
		if f := pc.GetFormat(); f != nil {
			for _, o := range f.GetOutputs() {
				c.Outputs = append(c.Outputs, sdk.Output{Suffix: o.GetSuffix(), MediaType: o.GetMediaType()})
			}
			c.Needs = f.GetNeeds()
		}
		if kind == sdk.KindFormat && len(c.Outputs) == 0 {
			return nil, fmt.Errorf("format %s declares no outputs", c.Name)
		}
		d.Components = append(d.Components, c)
	}
	return d, nil
}
