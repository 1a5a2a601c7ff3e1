//go:build !streamops_novenafi

package main

// The Venafi issuer, unless hack/build-cert-manager.sh builds without it (-tags streamops_novenafi:
// its SDK, github.com/Venafi/vcert/v5, at the version the core module requires is not served by
// the module proxy in use).
import _ "github.com/cert-manager/cert-manager/pkg/issuer/venafi"
