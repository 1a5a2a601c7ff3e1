// Command webhook is cert-manager's admission webhook (validation and defaulting of cert-manager's
// resources, the CertificateRequest identity and approval checks), built by streamops'
// hack/build-cert-manager.sh from the core module's packages. It takes the flags the cert-manager
// Helm chart of the same version passes (--v, --secure-port, --dynamic-serving-ca-secret-namespace,
// --dynamic-serving-ca-secret-name, --dynamic-serving-dns-names) and a few more; everything else
// comes from a WebhookConfiguration file (--config), as upstream's binary allows.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"

	whconfig "github.com/cert-manager/cert-manager/internal/apis/config/webhook"
	whscheme "github.com/cert-manager/cert-manager/internal/apis/config/webhook/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	"github.com/cert-manager/cert-manager/internal/webhook"
	_ "github.com/cert-manager/cert-manager/internal/webhook/feature" // registers the webhook's feature gates
	"github.com/cert-manager/cert-manager/pkg/apis/config/webhook/v1alpha1"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/streamops/config"
)

func main() {
	logf.InitLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); errors.Is(err, pflag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager webhook: %v\n", err)
		logf.FlushLogs()
		os.Exit(1)
	}
	logf.FlushLogs()
}

func load(args []string) (*whconfig.WebhookConfiguration, error) {
	_, codecs, err := whscheme.NewSchemeAndCodecs(serializer.EnableStrict)
	if err != nil {
		return nil, err
	}
	apiVersion := v1alpha1.SchemeGroupVersion.String()
	cfg, err := config.Load[*whconfig.WebhookConfiguration](codecs, apiVersion, "WebhookConfiguration", config.ConfigPath(args))
	if err != nil {
		return nil, err
	}
	if cfg.FeatureGates == nil {
		cfg.FeatureGates = map[string]bool{}
	}
	tls := &cfg.TLSConfig
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	var configPath string
	fs.StringVar(&configPath, "config", "", "a WebhookConfiguration file (webhook.config.cert-manager.io/v1alpha1); flags override it")
	fs.StringVar(&cfg.KubeConfig, "kubeconfig", cfg.KubeConfig, "a kubeconfig (empty: the in-cluster configuration)")
	fs.Int32Var(&cfg.SecurePort, "secure-port", cfg.SecurePort, "the admission webhook's HTTPS port")
	fs.Int32Var(&cfg.HealthzPort, "healthz-port", cfg.HealthzPort, "/healthz and /livez (plain HTTP)")
	fs.StringVar(&tls.Filesystem.CertFile, "tls-cert-file", tls.Filesystem.CertFile, "a serving certificate file (instead of the dynamic one)")
	fs.StringVar(&tls.Filesystem.KeyFile, "tls-private-key-file", tls.Filesystem.KeyFile, "its key")
	fs.StringVar(&tls.Dynamic.SecretNamespace, "dynamic-serving-ca-secret-namespace", tls.Dynamic.SecretNamespace, "the namespace of the Secret holding the CA the serving certificate is signed with")
	fs.StringVar(&tls.Dynamic.SecretName, "dynamic-serving-ca-secret-name", tls.Dynamic.SecretName, "that Secret's name (made when missing)")
	fs.StringSliceVar(&tls.Dynamic.DNSNames, "dynamic-serving-dns-names", tls.Dynamic.DNSNames, "the serving certificate's DNS names")
	fs.StringVar(&cfg.MetricsListenAddress, "metrics-listen-address", cfg.MetricsListenAddress, "Prometheus metrics (empty or 0: off)")
	fs.Var(config.FeatureGates(cfg.FeatureGates), "feature-gates", "feature gates, name=true|false,...")
	logf.AddFlags(&cfg.Logging, fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if errs := validation.ValidateWebhookConfiguration(cfg, field.NewPath("config")); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return cfg, nil
}

func run(ctx context.Context, args []string) error {
	cfg, err := load(args)
	if err != nil {
		return err
	}
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		return fmt.Errorf("logging: %w", err)
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(cfg.FeatureGates); err != nil {
		return fmt.Errorf("feature gates: %w", err)
	}
	ctx = logf.NewContext(ctx, logf.Log, "webhook")
	server, err := webhook.NewCertManagerWebhookServer(logf.FromContext(ctx), *cfg)
	if err != nil {
		return err
	}
	return server.Run(ctx)
}
