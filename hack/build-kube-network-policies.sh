#!/usr/bin/env bash
# Build the pinned kube-network-policies (SIG Network's NetworkPolicy engine; hack/versions.sh's
# GO_TOOLS row `kube-network-policies`) into the cache: hack/go-tool.sh, a patched copy of the
# module's source, upstream's go.mod and go.sum as they are. Later runs: no-op (a stamp holds this
# script's hash: editing it rebuilds). `--print-path` prints where it is.
#
# How it enforces: one process per node, in the node's network namespace, puts the packets of the
# node's Pods that some NetworkPolicy selects into an NFQUEUE (one nftables table, inet
# `kube-network-policies`, hooked before SNAT) and accepts or drops the first packet of each
# connection in user space; conntrack lets the rest through. The multi-node harness runs it as a
# process of each node, beside kube-proxy (devtools/devtools/cluster/node.py).
#
# Two changes to the copy, both checked below (the build fails if upstream's code moved):
# - the queue verdict: upstream writes nftables' native `queue` expression, which needs the
#   kernel's nft_queue (CONFIG_NFT_QUEUE); this machine's kernel (6.18, modules built in) has
#   none: adding the rule fails with ENOENT. The same verdict through nft_compat's xtables
#   NFQUEUE target (revision 3: queue number, 1 queue, bypass flag when --fail-open) is built in
#   and accepted in an inet table (measured: the rule lists back; the native one is refused).
# - cmd/main.go: a --kubeconfig flag (upstream reads the in-cluster config only, i.e. it must run
#   in a Pod; empty keeps that behaviour), and SIGTERM ends it like SIGINT, so that stopping it by
#   PID runs its cleanup (it deletes its nftables table on the way out).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
# The stamp this script wrote before hack/go-tool.sh (commit 8de64c7), for the same two patches:
# binaries built then stay valid. Empty it when a patch below changes.
go_tool_same_patches=85c7acacd325ffac

# In the fresh copy of the module's source.
go_tool_prepare() {
  # 1. The queue verdict through nft_compat's NFQUEUE target.
  cat > pkg/networkpolicy/queue_compat.go <<'EOF'
// Added by streamops' hack/build-kube-network-policies.sh: the queue verdict as the xtables
// NFQUEUE target (nft_compat), for kernels without nftables' native queue expression.
package networkpolicy

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

func queueVerdict(num int, bypass bool) expr.Any {
	// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; } (host order)
	info := make(xt.Unknown, 6)
	binary.NativeEndian.PutUint16(info[0:], uint16(num))
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], 0x1) // NFQ_FLAG_BYPASS
	}
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}
EOF
  perl -0pi -e 's/queue := &expr\.Queue\{Num: uint16\(c\.config\.QueueID\)\}\n\tif c\.config\.FailOpen \{\n\t\tqueue\.Flag = expr\.QueueFlagBypass\n\t\}/queue := queueVerdict(c.config.QueueID, c.config.FailOpen)/g' \
    pkg/networkpolicy/controller.go
  n=$(grep -c 'queue := queueVerdict(' pkg/networkpolicy/controller.go || true)
  if [ "$n" != 2 ] || grep -q 'expr\.Queue{' pkg/networkpolicy/controller.go; then
    echo "kube-network-policies $KUBE_NETWORK_POLICIES_VERSION: the queue verdicts in controller.go are not where this script expects them" >&2
    exit 1
  fi

  # 2. --kubeconfig and SIGTERM in cmd/main.go.
  perl -0pi -e '
    s{"k8s\.io/client-go/rest"}{"k8s.io/client-go/tools/clientcmd"} or die "rest import\n";
    s{config, err := rest\.InClusterConfig\(\)}{config, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)} or die "InClusterConfig\n";
    s{(\tdisableNRI\s+bool\n)}{$1\tkubeconfigPath             string\n} or die "vars\n";
    s{(\tflag\.BoolVar\(&disableNRI,[^\n]*\n)}{$1\tflag.StringVar(&kubeconfigPath, "kubeconfig", "", "Path to a kubeconfig (empty: the in-cluster configuration)")\n} or die "flag\n";
    s{os\.Interrupt, unix\.SIGINT\)}{os.Interrupt, unix.SIGINT, unix.SIGTERM)} or die "signals\n";
  ' cmd/main.go
}
go_tool_build kube-network-policies "$@"
