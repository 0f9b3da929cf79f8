# (domain: ratelimit) filled in by its owner
