"""Reading a trail directory: journal day files, tiles, keys, proofs, storage checks."""
