"""Command-line interface: thin wrappers that parse, call one library function and print."""
