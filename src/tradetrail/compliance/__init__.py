"""Use cases built on the layers below: retention, attestation, configuration snapshots."""
