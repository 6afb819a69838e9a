"""Pure formats, no I/O beyond a file named by the caller: the code twin of docs/FORMATS.md."""
