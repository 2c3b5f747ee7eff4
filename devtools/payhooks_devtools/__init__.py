"""payhooks' dev tooling: the local stack, the provider simulator, chaos, bench and the demo.

A distribution of its own (`payhooks-devtools`, devtools/pyproject.toml), installed by
`make setup` and CI, never in the runtime wheel or image. It stands on top of every runtime
package; none of them imports it (the `payhooks` CLI picks its commands up when it is installed).
"""
