# (domain: queue) filled in by its owner
