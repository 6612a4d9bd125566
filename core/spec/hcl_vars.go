package spec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvVarPrefix prefixes the environment variables that set spec variables:
// KIT_VAR_name=value.
const EnvVarPrefix = "KIT_VAR_"

// hclVariable is a variable block and the value it gets.
type hclVariable struct {
	name        string
	block       *hclsyntax.Block
	ty          cty.Type
	defaults    *typeexpr.Defaults
	def         cty.Value // cty.NilVal without a default
	validations []hclValidation

	value  cty.Value
	origin *hcl.Range // where the value was given, when it has a range
}

type hclValidation struct {
	condition, message hcl.Expression
}

// literalMode reports whether values from -var and the environment are
// taken as strings (primitive or unspecified types) rather than parsed as
// HCL expressions, as Terraform does.
func (v *hclVariable) literalMode() bool {
	return v.ty == cty.DynamicPseudoType || v.ty.IsPrimitiveType()
}

// variables decodes the variable blocks and assigns their values; it
// returns the object that var refers to.
func (d *hclDecoder) variables(blocks []*hclsyntax.Block) cty.Value {
	vars := map[string]*hclVariable{}
	var order []*hclVariable
	for _, b := range blocks {
		v := d.variableBlock(b)
		if v == nil {
			continue
		}
		if first, dup := vars[v.name]; dup {
			d.errorf(rangePtr(b.LabelRanges[0]), "Duplicate variable declaration", "A variable named %q is already declared at %s.", v.name, rangeString(first.block.DefRange()))
			continue
		}
		vars[v.name] = v
		order = append(order, v)
	}
	if d.diags.HasErrors() {
		return cty.EmptyObjectVal
	}
	declared := func() string {
		names := make([]string, 0, len(order))
		for _, v := range order {
			names = append(names, v.name)
		}
		if len(names) == 0 {
			return "it declares none"
		}
		return "declared: " + strings.Join(names, ", ")
	}

	// Lowest precedence first: the environment, var files, -var.
	var env []string
	for _, kv := range d.opts.Env {
		if strings.HasPrefix(kv, EnvVarPrefix) {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	for _, kv := range env {
		name, raw, _ := strings.Cut(strings.TrimPrefix(kv, EnvVarPrefix), "=")
		if v := vars[name]; v != nil {
			d.rawValue(v, raw, fmt.Sprintf("<value for var.%s from %s%s>", name, EnvVarPrefix, name))
		}
	}
	for _, file := range d.opts.VarFiles {
		d.varFile(file, vars, declared)
	}
	for _, name := range sortedKeys(d.opts.Vars) {
		v := vars[name]
		if v == nil {
			d.errorf(nil, "Value for undeclared variable", "-var %s=...: the spec declares no variable %q (%s).", name, name, declared())
			continue
		}
		d.rawValue(v, d.opts.Vars[name], fmt.Sprintf("<value for var.%s from -var>", name))
	}
	if d.diags.HasErrors() {
		return cty.EmptyObjectVal
	}

	vals := map[string]cty.Value{}
	for _, v := range order {
		val := v.value
		if val == cty.NilVal {
			if v.def == cty.NilVal {
				d.errorf(rangePtr(v.block.DefRange()), "No value for required variable", "The variable %q has no default: set it with -var %s=VALUE, in a -var-file, or with %s%s.", v.name, v.name, EnvVarPrefix, v.name)
				continue
			}
			val, v.origin = v.def, nil
			if a := v.block.Body.Attributes["default"]; a != nil {
				v.origin = rangePtr(a.Expr.Range())
			}
		}
		if v.defaults != nil {
			val = v.defaults.Apply(val)
		}
		conv, err := convert.Convert(val, v.ty)
		if err != nil {
			d.errorf(v.origin, "Invalid value for variable", "var.%s: %s (want %s).", v.name, err, typeexpr.TypeString(v.ty))
			continue
		}
		vals[v.name] = conv
		d.validate(v, conv)
	}
	return cty.ObjectVal(vals)
}

// variableBlock decodes one variable block.
func (d *hclDecoder) variableBlock(b *hclsyntax.Block) *hclVariable {
	v := &hclVariable{name: b.Labels[0], block: b, ty: cty.DynamicPseudoType, def: cty.NilVal, value: cty.NilVal}
	if !hclsyntax.ValidIdentifier(v.name) {
		d.errorf(rangePtr(b.LabelRanges[0]), "Invalid variable name", "A variable name is an identifier (letters, digits, _ and -, starting with a letter); got %q.", v.name)
		return nil
	}
	ok := true
	for _, a := range sortedAttributes(b.Body) {
		switch a.Name {
		case "type":
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			d.diags = append(d.diags, diags...)
			if diags.HasErrors() {
				ok = false
				continue
			}
			v.ty, v.defaults = ty, defaults
		case "default":
			val, diags := a.Expr.Value(nil)
			d.diags = append(d.diags, diags...)
			if diags.HasErrors() {
				ok = false
				continue
			}
			v.def = val
		case "description":
			val, diags := a.Expr.Value(nil)
			d.diags = append(d.diags, diags...)
			if !diags.HasErrors() && (val.IsNull() || val.Type() != cty.String) {
				d.errorf(rangePtr(a.Expr.Range()), "Invalid description", "A variable's description is a string.")
			}
		default:
			d.unsupportedAttribute(a, "in a variable block", []string{"default", "description", "type"})
			ok = false
		}
	}
	for _, blk := range b.Body.Blocks {
		if blk.Type != "validation" {
			detail := fmt.Sprintf("Blocks of type %q are not expected in a variable block.", blk.Type)
			if s := suggest(blk.Type, []string{"validation"}); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			d.errorf(rangePtr(blk.TypeRange), "Unsupported block type", "%s", detail)
			ok = false
			continue
		}
		if len(blk.Labels) > 0 {
			d.errorf(rangePtr(blk.LabelRanges[0]), "Wrong number of block labels", "A validation block takes no labels.")
			ok = false
			continue
		}
		var val hclValidation
		for _, a := range sortedAttributes(blk.Body) {
			switch a.Name {
			case "condition":
				val.condition = a.Expr
			case "error_message":
				val.message = a.Expr
			default:
				d.unsupportedAttribute(a, "in a validation block", []string{"condition", "error_message"})
				ok = false
			}
		}
		if val.condition == nil || val.message == nil {
			missing := "condition"
			if val.condition != nil {
				missing = "error_message"
			}
			d.errorf(rangePtr(blk.DefRange()), "Missing required argument", "A validation block needs condition and error_message; %s is missing.", missing)
			ok = false
			continue
		}
		for _, t := range val.condition.Variables() {
			if t.RootName() != "var" || len(t) < 2 {
				d.errorf(rangePtr(t.SourceRange()), "Invalid reference in variable validation", "A validation condition may refer only to var.%s.", v.name)
				ok = false
				continue
			}
			if a, isAttr := t[1].(hcl.TraverseAttr); !isAttr || a.Name != v.name {
				d.errorf(rangePtr(t.SourceRange()), "Invalid reference in variable validation", "A validation condition may refer only to var.%s.", v.name)
				ok = false
			}
		}
		v.validations = append(v.validations, val)
	}
	if v.def != cty.NilVal && !v.def.IsNull() {
		def := v.def
		if v.defaults != nil {
			def = v.defaults.Apply(def)
		}
		if _, err := convert.Convert(def, v.ty); err != nil {
			d.errorf(rangePtr(b.Body.Attributes["default"].Expr.Range()), "Invalid default value for variable", "var.%s: %s (want %s).", v.name, err, typeexpr.TypeString(v.ty))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return v
}

// rawValue sets v from a -var or KIT_VAR_ string, named file in ranges.
func (d *hclDecoder) rawValue(v *hclVariable, raw, file string) {
	if v.literalMode() {
		v.value, v.origin = cty.StringVal(raw), nil
		return
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), file, hcl.InitialPos)
	d.files[file] = &hcl.File{Bytes: []byte(raw)}
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return
	}
	val, diags := expr.Value(nil)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return
	}
	v.value, v.origin = val, rangePtr(expr.Range())
}

// varFile applies a file of NAME = VALUE attributes.
func (d *hclDecoder) varFile(file string, vars map[string]*hclVariable, declared func() string) {
	data, err := readLimited(file)
	if err != nil {
		d.errorf(nil, "Cannot read variable file", "%v", err)
		return
	}
	d.addInput(file)
	f, diags := hclsyntax.ParseConfig(data, file, hcl.InitialPos)
	d.files[file] = f
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return
	}
	body := f.Body.(*hclsyntax.Body)
	for _, b := range body.Blocks {
		d.errorf(rangePtr(b.TypeRange), "Unexpected block", "A variable file holds only NAME = VALUE attributes.")
	}
	for _, a := range sortedAttributes(body) {
		v := vars[a.Name]
		if v == nil {
			d.errorf(rangePtr(a.NameRange), "Value for undeclared variable", "The spec declares no variable %q (%s).", a.Name, declared())
			continue
		}
		val, diags := a.Expr.Value(nil)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		v.value, v.origin = val, rangePtr(a.Expr.Range())
	}
}

// validate checks v's validation rules.
func (d *hclDecoder) validate(v *hclVariable, val cty.Value) {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.name: val})},
		Functions: d.ctx.Functions,
	}
	for _, rule := range v.validations {
		res, diags := rule.condition.Value(ctx)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		if res.IsNull() || !res.IsKnown() || res.Type() != cty.Bool {
			d.errorf(rangePtr(rule.condition.Range()), "Invalid validation condition", "The condition must give true or false.")
			continue
		}
		if res.True() {
			continue
		}
		msg, diags := rule.message.Value(ctx)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		text := "(error_message is not a string)"
		if !msg.IsNull() && msg.Type() == cty.String {
			text = msg.AsString()
		}
		subject := v.origin
		if subject == nil {
			subject = rangePtr(rule.condition.Range())
		}
		d.errorf(subject, "Invalid value for variable", "var.%s: %s\n\nThis was checked by the validation rule at %s.", v.name, text, rangeString(rule.condition.Range()))
	}
}
