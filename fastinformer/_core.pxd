# Declarations of the compiled core's extension types, one include per domain.
include "_core_keys.pxd"
include "_core_store.pxd"
include "_core_fifo.pxd"
include "_core_ratelimit.pxd"
include "_core_queue.pxd"
include "_core_notify.pxd"
include "_core_lines.pxd"
include "_core_reuse.pxd"
