// Package envconfig fills a Config struct from environment variables named
// in struct tags:
//
//	type Config struct {
//		HTTPAddr string        `env:"HOOKMESH_HTTP_ADDR" default:"127.0.0.1:8090"`
//		Timeout  time.Duration `env:"HOOKMESH_TIMEOUT" default:"30s"`
//		Token    string        `env:"HOOKMESH_ADMIN_TOKEN" secret:"true"` // also HOOKMESH_ADMIN_TOKEN_FILE
//		NATSURL  string        `env:"HOOKMESH_NATS_URL" required:"true"`
//		Peers    []string      `env:"HOOKMESH_PEERS"` // comma-separated
//		DB       DBConfig      // nested structs are walked
//	}
//
// Supported field types: string, bool, int, int64, uint, float64,
// time.Duration and []string. A variable set to the empty string counts as
// unset (compose writes empty values for unset ones). Errors name the
// variable, never its value.
package envconfig

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// DefaultDataDir is where every hookmesh component keeps embedded state
// (HOOKMESH_DATA_DIR) unless told otherwise. A struct tag cannot name a
// constant: configs that spell it in a default tag say this value.
const DefaultDataDir = "./hookmesh-data"

var durationType = reflect.TypeFor[time.Duration]()

// Load fills the tagged fields of the struct cfg points to. A field keeps its
// current value when its variable and default are both unset. All problems
// are reported together.
func Load(cfg any) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return errors.New("envconfig: Load needs a non-nil pointer to a struct")
	}
	var errs []error
	walk(v.Elem(), func(f reflect.Value, sf reflect.StructField, name string) {
		if err := loadField(f, sf, name); err != nil {
			errs = append(errs, err)
		}
	}, &errs)
	return errors.Join(errs...)
}

// Names lists the variables cfg (a struct or pointer to one) reads, in field
// order; a secret field contributes NAME and NAME_FILE.
func Names(cfg any) []string {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v = reflect.New(v.Type().Elem())
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	var errs []error
	walk(v, func(_ reflect.Value, sf reflect.StructField, name string) {
		names = append(names, name)
		if sf.Tag.Get("secret") == "true" {
			names = append(names, name+"_FILE")
		}
	}, &errs)
	return names
}

// Secret reads a secret from NAME or, when NAME is unset, from the file named
// by NAME_FILE (a trailing newline is dropped). found is false when neither is
// set. Setting both is an error, and so is a NAME_FILE that cannot be read or
// holds nothing: falling back to a default (SMTP_URL_FILE to the outbox) would
// hide a broken secret mount. The one reader of _FILE variables.
func Secret(name string) (value string, found bool, err error) {
	direct := os.Getenv(name)
	file := os.Getenv(name + "_FILE")
	switch {
	case direct != "" && file != "":
		return "", false, fmt.Errorf("env %s and %s_FILE are both set; set one", name, name)
	case direct != "":
		return direct, true, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("env %s_FILE: read secret file: %w", name, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			// The path is config, not a secret; the content never appears in errors.
			return "", false, fmt.Errorf("env %s_FILE: secret file %s is empty", name, file)
		}
		return v, true, nil
	}
	return "", false, nil
}

// walk calls fn for every tagged field, descending into untagged struct fields.
func walk(v reflect.Value, fn func(f reflect.Value, sf reflect.StructField, name string), errs *[]error) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		name, tagged := sf.Tag.Lookup("env")
		f := v.Field(i)
		if !tagged {
			if sf.Type.Kind() == reflect.Struct && sf.Type != durationType && sf.IsExported() {
				walk(f, fn, errs)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		if !sf.IsExported() {
			*errs = append(*errs, fmt.Errorf("envconfig: field %s (env %s) is not exported", sf.Name, name))
			continue
		}
		fn(f, sf, name)
	}
}

func loadField(f reflect.Value, sf reflect.StructField, name string) error {
	var (
		raw   string
		found bool
	)
	if sf.Tag.Get("secret") == "true" {
		var err error
		raw, found, err = Secret(name)
		if err != nil {
			return err
		}
	} else {
		raw = os.Getenv(name)
		found = raw != ""
	}
	if !found {
		def, hasDefault := sf.Tag.Lookup("default")
		switch {
		case hasDefault:
			raw = def
		case sf.Tag.Get("required") == "true":
			return fmt.Errorf("env %s is required", name)
		default:
			return nil
		}
	}
	if err := set(f, raw); err != nil {
		if !found {
			return fmt.Errorf("envconfig: default of %s: %w", name, err)
		}
		return fmt.Errorf("env %s: %w", name, err)
	}
	return nil
}

// set parses raw into f. Errors describe the expected form, not the value.
func set(f reflect.Value, raw string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("not a duration (e.g. 500ms, 30s, 5m)")
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, f.Type().Bits())
		if err != nil {
			return errors.New("not an integer")
		}
		f.SetInt(n)
	case reflect.Uint:
		n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, f.Type().Bits())
		if err != nil {
			return errors.New("not a non-negative integer")
		}
		f.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return errors.New("not a number")
		}
		f.SetFloat(x)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported field type %s", f.Type())
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		f.Set(reflect.ValueOf(items).Convert(f.Type()))
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}
