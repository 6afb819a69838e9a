"""The HTTP service of a trail (`tradetrail serve --listen`): ingest, search, proofs, the C2SP
tlog-tiles read path and a live stream, behind scoped bearer tokens. It runs in the writer
process, beside the local channel, and calls the same use cases as the CLI."""
