# Declarations of the compiled core's extension types, one include per domain.
include "_core_keys.pxd"
