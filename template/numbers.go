package template

import "encoding/json"

// JSONNumbers converts the json.Number values in v (decoded with
// json.Decoder.UseNumber) into int64 when they are written as integers and
// float64 otherwise, the distinction Python keeps and st2 templates see:
// {{ count }} must print "2", not "2.0". Maps and slices are converted in
// place.
func JSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = JSONNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = JSONNumbers(e)
		}
		return x
	default:
		return v
	}
}
