# Compiled core of fastinformer. Compiler directives live in setup.py only.
#
# The core is split into include files, one per domain, so that each domain
# reads on its own; the pure-Python twin has one module per include file and
# the same public names (see _core_py.py).
include "_core_keys.pxi"
include "_core_store.pxi"
include "_core_fifo.pxi"
include "_core_ratelimit.pxi"
include "_core_queue.pxi"
include "_core_lines.pxi"
include "_core_notify.pxi"
include "_core_scan.pxi"
include "_core_reuse.pxi"
