"""One module per review site; the spider's `name` is the source name used in the config."""
