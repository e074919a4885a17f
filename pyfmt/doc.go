// Package pyfmt formats Go values exactly as Python's json.dumps, repr() and
// str() print the equivalent Python values, so that Squall's outputs (Jinja
// filters, shell-script arguments, HTTP parameters) and the hashes computed
// over them (trigger uids) equal StackStorm's byte for byte.
//
// Values are what decoding JSON or YAML produces: nil, bool, string, Go
// integers, float32/float64, json.Number, []any and map[string]any. Go maps
// have no insertion order, so object keys are always written sorted, as
// Python does with sort_keys=True.
package pyfmt
