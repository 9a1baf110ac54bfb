"""Hostile-input tests, one module per command (paths, malformed files, kills, untrusted exports and
checkpoints); each asserts the behaviour and the one-line error. The guarantees they prove are
listed in docs/guarantees.md."""
