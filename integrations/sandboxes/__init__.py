"""What every local sandbox of an accounting system is built from, whatever protocol it speaks.

- `messages`: requests and replies as plain values, and the JSON, HTML and text replies.
- `server`: the threaded HTTP server on a thread (tests, the demo) or in the foreground (command line), and
  `ScenarioSandbox`, a sandbox made from a scenario and fault modes.
- `faults`: the fault modes every sandbox offers (latency, fail, hang, strike after the effect), and the
  hang-then-fail rule.
- `tokens`: an OAuth2 authority with authorization codes, access tokens and refresh tokens that rotate.
- `oauth`: the sign-in page that stands in for a password, the redirect back with `code` and `state`, and the
  token endpoint's grants.
- `state`: the state every sandbox keeps (lock, clock, seeded random, apps, faults, traffic log), the
  `/_sandbox/faults` change, and the sandbox app's client id and secret.
- `control`: the controls every sandbox has under `/_sandbox/` (faults, traffic, scenario).

Each system's own protocol, names and rules stay in its package (`integrations.exact_online.sandbox`,
`integrations.twinfield.sandbox`, `integrations.visma_net.sandbox`): Exact's REST/OData and divisions, Twinfield's
SOAP and offices, Visma.net's client credentials and companies. Nothing here knows any one system.
"""
