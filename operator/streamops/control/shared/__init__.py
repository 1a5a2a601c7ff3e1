"""The policy every kind applies to its spec: the checks of a spec and of what it refers to
(spec_checks) and the admin's tenancy policy (tenancy). The rest of what the kinds share has a
folder of its own: control/runtime/, control/workers/, control/storage/, and streamops.kube."""
