;; Its start function calls proc_exit(3) while the module is instantiated.
;; Every runtime: 500.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func $init (call $proc_exit (i32.const 3)))
  (start $init)
  (func (export "_start")))
