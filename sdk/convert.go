package sdk

import "github.com/kitbuild/kit/sdk/proto/pluginv1"

var kindToProto = map[Kind]pluginv1.Kind{
	KindFormat: pluginv1.Kind_KIND_FORMAT,
	KindUpload: pluginv1.Kind_KIND_UPLOAD,
	KindRun:    pluginv1.Kind_KIND_RUN,
}

func toProtoDescription(d *Description) *pluginv1.DescribeResponse {
	out := &pluginv1.DescribeResponse{Name: d.Name, Version: d.Version, Protocol: int32(d.Protocol)}
	for _, c := range d.Components {
		pc := &pluginv1.Component{
			Kind:         kindToProto[c.Kind],
			Name:         c.Name,
			Version:      c.Version,
			ConfigSchema: c.ConfigSchema,
		}
		for _, im := range c.Images {
			pc.Images = append(pc.Images, &pluginv1.ImageSpec{Name: im.Name, DefaultRef: im.Default})
		}
		switch c.Kind {
		case KindFormat:
			fd := &pluginv1.FormatDetail{Needs: c.Needs}
			for _, o := range c.Outputs {
				fd.Outputs = append(fd.Outputs, &pluginv1.Output{Suffix: o.Suffix, MediaType: o.MediaType})
			}
			pc.Detail = &pluginv1.Component_Format{Format: fd}
		case KindUpload:
			pc.Detail = &pluginv1.Component_Upload{Upload: &pluginv1.UploadDetail{}}
		case KindRun:
			pc.Detail = &pluginv1.Component_Run{Run: &pluginv1.RunDetail{}}
		}
		out.Components = append(out.Components, pc)
	}
	return out
}
