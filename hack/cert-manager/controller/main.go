// Command controller is cert-manager's controller (Certificates, CertificateRequests, Issuers,
// ClusterIssuers, ACME Orders and Challenges, the ingress shim), built by streamops'
// hack/build-cert-manager.sh from the core module's packages. It takes the flags the cert-manager
// Helm chart of the same version passes (--v, --cluster-resource-namespace,
// --leader-election-namespace, --acme-http01-solver-image, --max-concurrent-challenges) and a few more;
// everything else comes from a ControllerConfiguration file (--config), as upstream's binary allows.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	cmconfig "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	cmscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/internal/apis/config/controller/validation"
	"github.com/cert-manager/cert-manager/internal/controller/feature"
	"github.com/cert-manager/cert-manager/internal/pem"
	"github.com/cert-manager/cert-manager/pkg/apis/config/controller"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/streamops/config"

	// The issuer types, each registering its constructor with pkg/issuer (upstream's binary imports
	// them the same way; Venafi's in venafi.go); the controllers register themselves through the
	// defaults package above.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
)

// The lease the chart's Role lets the controller hold (resourceNames: cert-manager-controller).
const leaseName = "cert-manager-controller"

func main() { config.Main("controller", run) }

func load(args []string) (*cmconfig.ControllerConfiguration, error) {
	_, codecs, err := cmscheme.NewSchemeAndCodecs(serializer.EnableStrict)
	if err != nil {
		return nil, err
	}
	apiVersion := controller.GroupName + "/v1alpha1"
	cfg, err := config.Load[*cmconfig.ControllerConfiguration](codecs, apiVersion, "ControllerConfiguration", config.ConfigPath(args))
	if err != nil {
		return nil, err
	}
	fs := config.Flags("controller", apiVersion, "ControllerConfiguration", common(cfg))
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "watch this namespace only (empty: all)")
	fs.StringVar(&cfg.ClusterResourceNamespace, "cluster-resource-namespace", cfg.ClusterResourceNamespace, "where the Secrets of ClusterIssuers are")
	fs.BoolVar(&cfg.LeaderElectionConfig.Enabled, "leader-elect", cfg.LeaderElectionConfig.Enabled, "run only while holding the leader lease")
	fs.StringVar(&cfg.LeaderElectionConfig.Namespace, "leader-election-namespace", cfg.LeaderElectionConfig.Namespace, "the leader lease's namespace")
	fs.StringSliceVar(&cfg.Controllers, "controllers", cfg.Controllers, "controllers to run: * for the default set, -name to leave one out, name to add one")
	fs.StringVar(&cfg.ACMEHTTP01Config.SolverImage, "acme-http01-solver-image", cfg.ACMEHTTP01Config.SolverImage, "the ACME HTTP-01 solver's image")
	fs.IntVar(&cfg.MaxConcurrentChallenges, "max-concurrent-challenges", cfg.MaxConcurrentChallenges, "ACME challenges processed at once")
	fs.StringVar(&cfg.HealthzListenAddress, "healthz-listen-address", cfg.HealthzListenAddress, "/livez")
	fs.BoolVar(&cfg.EnableCertificateOwnerRef, "enable-certificate-owner-ref", cfg.EnableCertificateOwnerRef, "make Certificates owners of their Secrets")
	fs.BoolVar(&cfg.EnableGatewayAPI, "enable-gateway-api", cfg.EnableGatewayAPI, "the Gateway API shim")
	validate := func(path *field.Path) field.ErrorList { return validation.ValidateControllerConfiguration(cfg, path) }
	return cfg, config.Parse(fs, args, validate)
}

// common: the settings config.Flags and config.Start handle for every component.
func common(cfg *cmconfig.ControllerConfiguration) config.Common {
	return config.Common{KubeConfig: &cfg.KubeConfig, MetricsListenAddress: &cfg.MetricsListenAddress, FeatureGates: &cfg.FeatureGates, Logging: &cfg.Logging}
}

func run(ctx context.Context, args []string) error {
	cfg, err := load(args)
	if err != nil {
		return err
	}
	ctx, err = config.Start(ctx, "controller", common(cfg))
	if err != nil {
		return err
	}
	limits := cfg.PEMSizeLimitsConfig
	pem.SetGlobalSizeLimits(pem.NewSizeLimitsFromConfig(limits.MaxCertificateSize, limits.MaxPrivateKeySize, limits.MaxChainLength, limits.MaxBundleSize))
	log := logf.FromContext(ctx)

	opts, err := contextOptions(cfg)
	if err != nil {
		return err
	}
	factory, err := controllerpkg.NewContextFactory(ctx, opts)
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}

	// The controllers are made before anything is served: each sets up the informers (and metrics
	// collectors) it needs; nothing runs until the informers start below.
	var loops []namedLoop
	for _, name := range enabledControllers(cfg) {
		if cfg.Namespace != "" && slices.Contains(defaults.ClusterScopedControllers, name) {
			log.V(logf.InfoLevel).Info("not starting a cluster-scoped controller: watching one namespace", "controller", name)
			continue
		}
		construct, ok := controllerpkg.Known()[name]
		if !ok { // (validation knows every name: one left out of this build, see venafi.go)
			log.Info("not starting a controller this binary was built without", "controller", name)
			continue
		}
		loop, err := construct(factory)
		if err != nil {
			return fmt.Errorf("making controller %q: %w", name, err)
		}
		loops = append(loops, namedLoop{name, loop})
	}

	g, gctx := errgroup.WithContext(ctx)
	if address := cfg.MetricsListenAddress; address != "" && address != "0" {
		ln, err := net.Listen("tcp", address)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		server := base.Metrics.NewServer(ln)
		g.Go(func() error { return serve(gctx, server, ln) })
	}
	health := healthz.NewServer(cfg.LeaderElectionConfig.HealthzTimeout)
	if address := cfg.HealthzListenAddress; address != "" && address != "0" {
		ln, err := net.Listen("tcp", address)
		if err != nil {
			return fmt.Errorf("healthz listener: %w", err)
		}
		g.Go(func() error { return health.Start(gctx, ln) })
	}

	start := func(ctx context.Context) error {
		lg, lctx := errgroup.WithContext(ctx)
		for _, l := range loops {
			lg.Go(func() error {
				log.V(logf.InfoLevel).Info("starting controller", "controller", l.name)
				if err := l.loop.Run(cfg.NumberOfConcurrentWorkers, lctx); err != nil {
					return fmt.Errorf("controller %q: %w", l.name, err)
				}
				return nil
			})
		}
		base.KubeSharedInformerFactory.Start(lctx.Done())
		base.SharedInformerFactory.Start(lctx.Done())
		base.HTTP01ResourceMetadataInformersFactory.Start(lctx.Done())
		if opts.EnableGatewayAPI {
			base.GWShared.Start(lctx.Done())
		}
		return lg.Wait()
	}

	if !cfg.LeaderElectionConfig.Enabled {
		g.Go(func() error { return start(gctx) })
		return g.Wait()
	}
	client, err := kubernetes.NewForConfig(base.RESTConfig)
	if err != nil {
		return err
	}
	identity, err := os.Hostname()
	if err != nil {
		return err
	}
	lock := &resourcelock.LeaseLock{
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity + "-external-cert-manager-controller", EventRecorder: base.Recorder},
	}
	lock.LeaseMeta.Namespace, lock.LeaseMeta.Name = cfg.LeaderElectionConfig.Namespace, leaseName
	le := cfg.LeaderElectionConfig
	g.Go(func() error {
		var ran error
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   le.LeaseDuration,
			RenewDeadline:   le.RenewDeadline,
			RetryPeriod:     le.RetryPeriod,
			ReleaseOnCancel: true,
			WatchDog:        health.LeaderHealthzAdaptor,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) { ran = start(ctx) },
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return err
		}
		health.LeaderHealthzAdaptor.SetLeaderElection(elector)
		elector.Run(gctx)
		if ran == nil && gctx.Err() == nil {
			ran = errors.New("leader election lost")
		}
		return ran
	})
	return g.Wait()
}

type namedLoop struct {
	name string
	loop controllerpkg.Interface
}

// enabledControllers expands cfg.Controllers: "*" is the default set, "-name" leaves one out,
// "name" adds one (validation has checked the names).
func enabledControllers(cfg *cmconfig.ControllerConfiguration) []string {
	enabled, disabled := sets.New[string](), sets.New[string]()
	for _, name := range cfg.Controllers {
		switch {
		case name == "*":
			enabled.Insert(defaults.DefaultEnabledControllers...)
		case strings.HasPrefix(name, "-"):
			disabled.Insert(strings.TrimPrefix(name, "-"))
		default:
			enabled.Insert(name)
		}
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalCertificateSigningRequestControllers) {
		enabled.Insert(defaults.ExperimentalCertificateSigningRequestControllers...)
	}
	return sets.List(enabled.Difference(disabled))
}

func contextOptions(cfg *cmconfig.ControllerConfiguration) (controllerpkg.ContextOptions, error) {
	quantities := map[string]*resource.Quantity{}
	for name, value := range map[string]string{
		"solverResourceRequestCPU":    cfg.ACMEHTTP01Config.SolverResourceRequestCPU,
		"solverResourceRequestMemory": cfg.ACMEHTTP01Config.SolverResourceRequestMemory,
		"solverResourceLimitsCPU":     cfg.ACMEHTTP01Config.SolverResourceLimitsCPU,
		"solverResourceLimitsMemory":  cfg.ACMEHTTP01Config.SolverResourceLimitsMemory,
	} {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return controllerpkg.ContextOptions{}, fmt.Errorf("acmeHTTP01Config.%s: %w", name, err)
		}
		quantities[name] = &q
	}
	nameservers := cfg.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	shim := cfg.IngressShimConfig
	return controllerpkg.ContextOptions{
		APIServerHost:      cfg.APIServerHost, //nolint:staticcheck // as upstream: still honoured
		Kubeconfig:         cfg.KubeConfig,
		KubernetesAPIQPS:   cfg.KubernetesAPIQPS,
		KubernetesAPIBurst: cfg.KubernetesAPIBurst,
		Namespace:          cfg.Namespace,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace:        cfg.ClusterResourceNamespace,
			ClusterIssuerAmbientCredentials: cfg.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        cfg.IssuerAmbientCredentials,
		},
		ACMEOptions: controllerpkg.ACMEOptions{
			HTTP01SolverImage:                 cfg.ACMEHTTP01Config.SolverImage,
			HTTP01SolverResourceRequestCPU:    *quantities["solverResourceRequestCPU"],
			HTTP01SolverResourceRequestMemory: *quantities["solverResourceRequestMemory"],
			HTTP01SolverResourceLimitsCPU:     *quantities["solverResourceLimitsCPU"],
			HTTP01SolverResourceLimitsMemory:  *quantities["solverResourceLimitsMemory"],
			ACMEHTTP01SolverRunAsNonRoot:      cfg.ACMEHTTP01Config.SolverRunAsNonRoot,
			HTTP01SolverRuntimeClassName:      cfg.ACMEHTTP01Config.SolverRuntimeClassName,
			HTTP01SolverNameservers:           cfg.ACMEHTTP01Config.SolverNameservers,
			HTTP01SolverExtraLabels:           cfg.ACMEHTTP01Config.SolverExtraLabels,
			DNS01CheckAuthoritative:           !cfg.ACMEDNS01Config.RecursiveNameserversOnly,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             cfg.ACMEDNS01Config.CheckRetryPeriod,
		},
		IngressShimOptions: controllerpkg.IngressShimOptions{
			DefaultIssuerName:                 shim.DefaultIssuerName,
			DefaultIssuerKind:                 shim.DefaultIssuerKind,
			DefaultIssuerGroup:                shim.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: shim.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       shim.ExtraCertificateAnnotations,
			GatewayAPIExtraProtocols:          sets.New(cfg.GatewayAPIConfig.ExtraProtocols...),
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef:                           cfg.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 cfg.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: cfg.CertificateRequestMinimumBackoffDuration,
			CertificateRequestMaximumBackoffDuration: cfg.CertificateRequestMaximumBackoffDuration,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: cfg.MaxConcurrentChallenges},
		ConfigOptions: controllerpkg.ConfigOptions{
			EnableGatewayAPI:            cfg.EnableGatewayAPI || cfg.GatewayAPIConfig.Enabled,
			EnableGatewayAPIListenerSet: cfg.EnableGatewayAPIListenerSet || cfg.GatewayAPIConfig.EnableListenerSet,
		},
	}, nil
}

func serve(ctx context.Context, server *http.Server, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown) //nolint:contextcheck // the parent is done: a fresh deadline
	}()
	if err := server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
