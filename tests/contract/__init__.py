"""Contract tier: the repository kept in step with itself (template, events, docs, packaging,
route matrices); see tests/README.md."""
