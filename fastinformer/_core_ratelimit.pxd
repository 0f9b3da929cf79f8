# (domain: ratelimit) declarations
