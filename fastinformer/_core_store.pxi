# (domain: store) filled in by its owner
