"""The egress guard (docs/design/egress.md): where overlay pages and webhook deliveries may connect.
Tenants choose those URLs, so the product itself refuses loopback, link-local, private and the
cluster's ranges unless the admin allow-lists them, checking the address it connects to.

| module | job |
|---|---|
| `contract.egress_policy` | pure: refused addresses, the allow-list, the refusal (the renderer's config carries it) |
| `resolution` | a host name → the addresses it may connect to (resolved once, each one checked) |
| `pinning` | an HTTP request pinned to a checked address (the webhook sender's) |
| `proxy` | the overlay renderer's local forward proxy: every request of its Chromium checked |
"""
