"""`payhooks chaos`: load through real gateways and consumers while faults are injected, then
prove nothing was lost or doubled (`payhooks reconcile` plus an exactly-once check)."""
