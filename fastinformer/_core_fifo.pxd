# (domain: fifo) declarations
