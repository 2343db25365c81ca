// Package configset sets model configuration fields by name, for the
// benchmark commands' -set and -grid flags.
package configset

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/anomalyd/detector/models"
)

// Apply sets Config fields from "Name=value,Name=value".
func Apply(c *models.Config, s string) error {
	if s == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("bad setting %q", kv)
		}
		if err := Set(c, k, v); err != nil {
			return err
		}
	}
	return nil
}

// Set sets one Config field by name: a dotted path into nested structs
// (Novelty.Quiet), an index into an array (Weights[1]).
func Set(c *models.Config, k, v string) error {
	idx := -1
	if a, b, ok := strings.Cut(k, "["); ok {
		n, err := strconv.Atoi(strings.TrimSuffix(b, "]"))
		if err != nil {
			return fmt.Errorf("bad index in %q", k)
		}
		k, idx = a, n
	}
	f := reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(k, ".") {
		if f.Kind() != reflect.Struct {
			return fmt.Errorf("no config field %q", k)
		}
		f = f.FieldByName(part)
	}
	if idx >= 0 && f.IsValid() && f.Kind() == reflect.Array {
		f = f.Index(idx)
	}
	if !f.IsValid() {
		return fmt.Errorf("no config field %q", k)
	}
	switch f.Kind() {
	case reflect.Float64:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case reflect.Int, reflect.Int64:
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(x)
	case reflect.Bool:
		x, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		f.SetBool(x)
	default:
		return fmt.Errorf("field %q: unsupported kind", k)
	}
	return nil
}
