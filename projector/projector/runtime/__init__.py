"""The live projector process: the Faust app, its consumer hooks, progress reports,
honouring operator resets and finishing rebuilds (``python -m projector``)."""
