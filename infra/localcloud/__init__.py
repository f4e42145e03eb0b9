"""The local cloud: the real handlers on an embedded AWS (moto server mode on loopback),
with every resource created by reading template.yaml."""
