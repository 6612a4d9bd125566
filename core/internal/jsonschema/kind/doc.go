// Package kind is the kind package of github.com/santhosh-tekuri/jsonschema/v6
// at v6.0.3 (see package jsonschema): the kinds of validation errors.
package kind
