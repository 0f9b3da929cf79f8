# (domain: queue) declarations
