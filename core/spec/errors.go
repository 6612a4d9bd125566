package spec

import "strings"

// Errors is a list of spec problems, reported together so that a user sees
// every problem at once. It prints one problem per line.
type Errors []*Error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As finds an *Error in the list.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, err := range e {
		errs[i] = err
	}
	return errs
}

// err returns e as an error, or nil when e is empty (never a typed nil).
func (e Errors) err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}
