;; Its start function traps (`unreachable`) while the module is
;; instantiated. Every runtime: 500.
(module
  (memory (export "memory") 1)
  (func $init unreachable)
  (start $init)
  (func (export "_start")))
