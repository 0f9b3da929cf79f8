# (domain: store) declarations
