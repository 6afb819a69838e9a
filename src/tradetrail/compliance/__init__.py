"""Use cases built on the layers below: retention, attestation, configuration snapshots, and
the exam package (made and checked here because it bundles packs, reports and query results)."""
