# (domain: fifo) filled in by its owner
