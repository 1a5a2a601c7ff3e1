// Command cainjector is cert-manager's CA injector (it writes the caBundle of webhook
// configurations, APIServices and CRD conversion webhooks from the Secret or Certificate their
// cert-manager.io/inject-ca-from* annotation names), built by streamops' hack/build-cert-manager.sh
// from the core module's packages. It takes the flags the cert-manager Helm chart of the same version
// passes (--v, --leader-election-namespace) and a few more; everything else comes from a
// CAInjectorConfiguration file (--config), as upstream's binary allows.
package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cicfg "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	cischeme "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/cainjector/validation"
	_ "github.com/cert-manager/cert-manager/internal/cainjector/feature" // registers the injector's feature gates
	"github.com/cert-manager/cert-manager/internal/kube"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/apis/config/cainjector/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/streamops/config"
)

// The lease the chart's Role lets the injector hold.
const leaseName = "cert-manager-cainjector-leader-election"

func main() { config.Main("cainjector", run) }

func load(args []string) (*cicfg.CAInjectorConfiguration, error) {
	_, codecs, err := cischeme.NewSchemeAndCodecs(serializer.EnableStrict)
	if err != nil {
		return nil, err
	}
	apiVersion := v1alpha1.SchemeGroupVersion.String()
	cfg, err := config.Load[*cicfg.CAInjectorConfiguration](codecs, apiVersion, "CAInjectorConfiguration", config.ConfigPath(args))
	if err != nil {
		return nil, err
	}
	fs := config.Flags("cainjector", apiVersion, "CAInjectorConfiguration", common(cfg))
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "inject into this namespace's objects only (empty: all)")
	fs.BoolVar(&cfg.LeaderElectionConfig.Enabled, "leader-elect", cfg.LeaderElectionConfig.Enabled, "run only while holding the leader lease")
	fs.StringVar(&cfg.LeaderElectionConfig.Namespace, "leader-election-namespace", cfg.LeaderElectionConfig.Namespace, "the leader lease's namespace")
	fs.BoolVar(&cfg.EnableDataSourceConfig.Certificates, "enable-certificates-data-source", cfg.EnableDataSourceConfig.Certificates, "inject from Certificates (cert-manager.io/inject-ca-from)")
	validate := func(path *field.Path) field.ErrorList { return validation.ValidateCAInjectorConfiguration(cfg, path) }
	return cfg, config.Parse(fs, args, validate)
}

// common: the settings config.Flags and config.Start handle for every component.
func common(cfg *cicfg.CAInjectorConfiguration) config.Common {
	return config.Common{KubeConfig: &cfg.KubeConfig, MetricsListenAddress: &cfg.MetricsListenAddress, FeatureGates: &cfg.FeatureGates, Logging: &cfg.Logging}
}

func run(ctx context.Context, args []string) error {
	cfg, err := load(args)
	if err != nil {
		return err
	}
	ctx, err = config.Start(ctx, "cainjector", common(cfg))
	if err != nil {
		return err
	}
	ctrl.SetLogger(logf.FromContext(ctx))

	restConfig, err := kube.BuildClientConfig("", cfg.KubeConfig)
	if err != nil {
		return err
	}
	restConfig = util.RestConfigWithUserAgent(restConfig, "cainjector")

	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))
	utilruntime.Must(cmapi.AddToScheme(scheme))

	cacheOptions := cache.Options{}
	if cfg.Namespace != "" {
		cacheOptions.DefaultNamespaces = map[string]cache.Config{cfg.Namespace: {}}
	}
	le := cfg.LeaderElectionConfig
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOptions,
		LeaderElection:                le.Enabled,
		LeaderElectionNamespace:       le.Namespace,
		LeaderElectionID:              leaseName,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &le.LeaseDuration,
		RenewDeadline:                 &le.RenewDeadline,
		RetryPeriod:                   &le.RetryPeriod,
		Metrics:                       metricsserver.Options{BindAddress: cfg.MetricsListenAddress},
		// Secrets are watched as metadata only (the injectors' watches); their data is read from
		// the API server when a CA is injected, never cached.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		return fmt.Errorf("the controller manager: %w", err)
	}
	injectables := cfg.EnableInjectableConfig
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    cfg.Namespace,
		IgnoreNamespaces:             cfg.IgnoreNamespaces,
		EnableCertificatesDataSource: cfg.EnableDataSourceConfig.Certificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   injectables.MutatingWebhookConfigurations,
			cainjector.ValidatingWebhookConfigurationName: injectables.ValidatingWebhookConfigurations,
			cainjector.APIServiceName:                     injectables.APIServices,
			cainjector.CustomResourceDefinitionName:       injectables.CustomResourceDefinitions,
		},
	})
	if err != nil {
		return fmt.Errorf("registering the injectors: %w", err)
	}
	return mgr.Start(ctx)
}
