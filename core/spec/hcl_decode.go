package spec

import "github.com/hashicorp/hcl/v2"

// hclDecoder decodes one HCL spec file.
type hclDecoder struct {
	file  string
	data  []byte
	opts  HCLOptions
	diags hcl.Diagnostics
	files map[string]*hcl.File
}

func newHCLDecoder(file string, data []byte, opts HCLOptions) *hclDecoder {
	return &hclDecoder{file: file, data: data, opts: opts, files: map[string]*hcl.File{}}
}

func (d *hclDecoder) decodeFile() *HCLFile {
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "HCL specs are not implemented yet"})
	return nil
}

func (d *hclDecoder) diagnostics() *Diagnostics {
	return &Diagnostics{Diags: d.diags, Files: d.files}
}
