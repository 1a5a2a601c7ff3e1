// Command cainjector is cert-manager's CA injector (it writes the caBundle of webhook
// configurations, APIServices and CRD conversion webhooks from the Secret or Certificate their
// cert-manager.io/inject-ca-from* annotation names), built by streamops' hack/build-cert-manager.sh
// from the core module's packages. It takes the flags the cert-manager Helm chart of the same version
// passes (--v, --leader-election-namespace) and a few more; everything else comes from a
// CAInjectorConfiguration file (--config), as upstream's binary allows.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
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
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/streamops/config"
)

// The lease the chart's Role lets the injector hold.
const leaseName = "cert-manager-cainjector-leader-election"

func main() {
	logf.InitLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); errors.Is(err, pflag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "cert-manager cainjector: %v\n", err)
		logf.FlushLogs()
		os.Exit(1)
	}
	logf.FlushLogs()
}

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
	if cfg.FeatureGates == nil {
		cfg.FeatureGates = map[string]bool{}
	}
	fs := pflag.NewFlagSet("cainjector", pflag.ContinueOnError)
	var configPath string
	fs.StringVar(&configPath, "config", "", "a CAInjectorConfiguration file (cainjector.config.cert-manager.io/v1alpha1); flags override it")
	fs.StringVar(&cfg.KubeConfig, "kubeconfig", cfg.KubeConfig, "a kubeconfig (empty: the in-cluster configuration)")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "inject into this namespace's objects only (empty: all)")
	fs.BoolVar(&cfg.LeaderElectionConfig.Enabled, "leader-elect", cfg.LeaderElectionConfig.Enabled, "run only while holding the leader lease")
	fs.StringVar(&cfg.LeaderElectionConfig.Namespace, "leader-election-namespace", cfg.LeaderElectionConfig.Namespace, "the leader lease's namespace")
	fs.BoolVar(&cfg.EnableDataSourceConfig.Certificates, "enable-certificates-data-source", cfg.EnableDataSourceConfig.Certificates, "inject from Certificates (cert-manager.io/inject-ca-from)")
	fs.StringVar(&cfg.MetricsListenAddress, "metrics-listen-address", cfg.MetricsListenAddress, "Prometheus metrics (0: off)")
	fs.Var(config.FeatureGates(cfg.FeatureGates), "feature-gates", "feature gates, name=true|false,...")
	logf.AddFlags(&cfg.Logging, fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if errs := validation.ValidateCAInjectorConfiguration(cfg, field.NewPath("config")); len(errs) > 0 {
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
	ctx = logf.NewContext(ctx, logf.Log, "cainjector")
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
