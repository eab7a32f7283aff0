"""One module per known Tock IPC flaw; each defines EXPERIMENT (a tockd.experiment.Experiment)."""
