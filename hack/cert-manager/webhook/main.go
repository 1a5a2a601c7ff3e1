// Command webhook is cert-manager's admission webhook (validation and defaulting of cert-manager's
// resources, the CertificateRequest identity and approval checks), built by streamops'
// hack/build-cert-manager.sh from the core module's packages. It takes the flags the cert-manager
// Helm chart of the same version passes (--v, --secure-port, --dynamic-serving-ca-secret-namespace,
// --dynamic-serving-ca-secret-name, --dynamic-serving-dns-names) and a few more; everything else
// comes from a WebhookConfiguration file (--config), as upstream's binary allows.
package main

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"

	whconfig "github.com/cert-manager/cert-manager/internal/apis/config/webhook"
	whscheme "github.com/cert-manager/cert-manager/internal/apis/config/webhook/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	"github.com/cert-manager/cert-manager/internal/webhook"
	_ "github.com/cert-manager/cert-manager/internal/webhook/feature" // registers the webhook's feature gates
	"github.com/cert-manager/cert-manager/pkg/apis/config/webhook/v1alpha1"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/streamops/config"
)

func main() { config.Main("webhook", run) }

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
	tls := &cfg.TLSConfig
	fs := config.Flags("webhook", apiVersion, "WebhookConfiguration", common(cfg))
	fs.Int32Var(&cfg.SecurePort, "secure-port", cfg.SecurePort, "the admission webhook's HTTPS port")
	fs.Int32Var(&cfg.HealthzPort, "healthz-port", cfg.HealthzPort, "/healthz and /livez (plain HTTP)")
	fs.StringVar(&tls.Filesystem.CertFile, "tls-cert-file", tls.Filesystem.CertFile, "a serving certificate file (instead of the dynamic one)")
	fs.StringVar(&tls.Filesystem.KeyFile, "tls-private-key-file", tls.Filesystem.KeyFile, "its key")
	fs.StringVar(&tls.Dynamic.SecretNamespace, "dynamic-serving-ca-secret-namespace", tls.Dynamic.SecretNamespace, "the namespace of the Secret holding the CA the serving certificate is signed with")
	fs.StringVar(&tls.Dynamic.SecretName, "dynamic-serving-ca-secret-name", tls.Dynamic.SecretName, "that Secret's name (made when missing)")
	fs.StringSliceVar(&tls.Dynamic.DNSNames, "dynamic-serving-dns-names", tls.Dynamic.DNSNames, "the serving certificate's DNS names")
	validate := func(path *field.Path) field.ErrorList { return validation.ValidateWebhookConfiguration(cfg, path) }
	return cfg, config.Parse(fs, args, validate)
}

// common: the settings config.Flags and config.Start handle for every component.
func common(cfg *whconfig.WebhookConfiguration) config.Common {
	return config.Common{KubeConfig: &cfg.KubeConfig, MetricsListenAddress: &cfg.MetricsListenAddress, FeatureGates: &cfg.FeatureGates, Logging: &cfg.Logging}
}

func run(ctx context.Context, args []string) error {
	cfg, err := load(args)
	if err != nil {
		return err
	}
	ctx, err = config.Start(ctx, "webhook", common(cfg))
	if err != nil {
		return err
	}
	server, err := webhook.NewCertManagerWebhookServer(logf.FromContext(ctx), *cfg)
	if err != nil {
		return err
	}
	return server.Run(ctx)
}
