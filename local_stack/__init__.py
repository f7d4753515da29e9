"""lexstream's local stack: the whole streaming path on one machine, without AWS."""
