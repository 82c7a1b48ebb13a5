;; Traps at once (`unreachable`). Every runtime: 500.
(module
  (memory (export "memory") 1)
  (func (export "_start") unreachable))
