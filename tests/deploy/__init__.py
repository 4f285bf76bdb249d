"""Checks of deploy/: the Kubernetes manifests and the Compose stack."""
