package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logsapi "k8s.io/component-base/logs/api/v1"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// Main runs a component as upstream's binaries do: cert-manager's logging set up and flushed, a
// context cancelled on SIGINT or SIGTERM; --help exits 0, an error exits 1 saying which component.
func Main(name string, run func(ctx context.Context, args []string) error) {
	logf.InitLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "cert-manager %s: %v\n", name, err)
		logf.FlushLogs()
		os.Exit(1)
	}
	logf.FlushLogs()
}

// Common points at the settings every component's configuration has.
type Common struct {
	KubeConfig           *string
	MetricsListenAddress *string
	FeatureGates         *map[string]bool // made when nil
	Logging              *logsapi.LoggingConfiguration
}

// Flags is a component's flag set with the flags all three take: --config (its value is read first,
// by ConfigPath), --kubeconfig, --metrics-listen-address, --feature-gates and cert-manager's logging
// flags; apiVersion and kind name the configuration file's type.
func Flags(name, apiVersion, kind string, c Common) *pflag.FlagSet {
	if *c.FeatureGates == nil {
		*c.FeatureGates = map[string]bool{}
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	var configPath string
	fs.StringVar(&configPath, "config", "", fmt.Sprintf("a %s file (%s); flags override it", kind, apiVersion))
	fs.StringVar(c.KubeConfig, "kubeconfig", *c.KubeConfig, "a kubeconfig (empty: the in-cluster configuration)")
	fs.StringVar(c.MetricsListenAddress, "metrics-listen-address", *c.MetricsListenAddress, "Prometheus metrics' listen address (0: off)")
	fs.Var(FeatureGates(*c.FeatureGates), "feature-gates", "feature gates, name=true|false,...")
	logf.AddFlags(c.Logging, fs)
	return fs
}

// Parse reads args into fs, then checks the configuration with validate.
func Parse(fs *pflag.FlagSet, args []string, validate func(*field.Path) field.ErrorList) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if errs := validate(field.NewPath("config")); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

// Start applies the logging configuration and the feature gates; ctx is returned with the
// component's logger.
func Start(ctx context.Context, name string, c Common) (context.Context, error) {
	if err := logf.ValidateAndApply(c.Logging); err != nil {
		return ctx, fmt.Errorf("logging: %w", err)
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(*c.FeatureGates); err != nil {
		return ctx, fmt.Errorf("feature gates: %w", err)
	}
	return logf.NewContext(ctx, logf.Log, name), nil
}
