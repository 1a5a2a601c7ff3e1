// Package config reads a cert-manager component's configuration the way upstream's binaries do: the
// v1alpha1 defaults of the core module, a --config file (the same kind, e.g. ControllerConfiguration)
// over them, then command-line flags over both.
//
// Written for streamops (hack/build-cert-manager.sh): cert-manager's binaries live in Go modules of
// their own (cmd/controller, cmd/webhook, cmd/cainjector) that are not published, so these mains are
// built inside a copy of the core module github.com/cert-manager/cert-manager, whose packages (the
// controllers, the webhook server, the injectors, the configuration API) do the work.
package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// Load decodes the configuration file at path (empty: none) into the internal type T, with the
// scheme's defaults applied; apiVersion and kind name the external type (group/v1alpha1, Kind).
func Load[T runtime.Object](codecs *serializer.CodecFactory, apiVersion, kind, path string) (T, error) {
	var zero T
	data := []byte(fmt.Sprintf("apiVersion: %s\nkind: %s\n", apiVersion, kind))
	if path != "" {
		read, err := os.ReadFile(path)
		if err != nil {
			return zero, fmt.Errorf("reading the configuration file: %w", err)
		}
		data = read
	}
	obj, _, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return zero, fmt.Errorf("decoding the configuration (%s): %w", orDefaults(path), err)
	}
	out, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("the configuration (%s) is a %T, not a %s", orDefaults(path), obj, kind)
	}
	return out, nil
}

func orDefaults(path string) string {
	if path == "" {
		return "defaults"
	}
	return path
}

// ConfigPath is the value of --config in args ("--config=PATH" or "--config PATH"), read before the
// other flags are defined: their defaults are the file's values, so that a flag given wins.
func ConfigPath(args []string) string {
	for i, arg := range args {
		if arg == "--" {
			break
		}
		if value, ok := strings.CutPrefix(arg, "--config="); ok {
			return value
		}
		if arg == "--config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// FeatureGates is a --feature-gates flag (name=true|false,...) writing into gates (not nil).
type FeatureGates map[string]bool

func (m FeatureGates) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%t", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (m FeatureGates) Set(value string) error {
	for _, pair := range strings.Split(value, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, v, ok := strings.Cut(pair, "=")
		if !ok || (v != "true" && v != "false") {
			return fmt.Errorf("%q: want name=true or name=false", pair)
		}
		m[name] = v == "true"
	}
	return nil
}

func (m FeatureGates) Type() string { return "mapStringBool" }
