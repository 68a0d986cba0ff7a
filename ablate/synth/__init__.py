"""The synthesis stage: T3 text-only temporal data (via `t3/`) and the generic-text control, `ablate synth`."""
