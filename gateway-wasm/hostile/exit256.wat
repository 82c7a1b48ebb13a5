;; proc_exit(256) without output. Wasmtime (embedded and CLI) refuses a status
;; outside [0, 126): 500. WasmEdge passes it to exit(2), the OS keeps 8 bits
;; and the gateway sees status 0 and an empty stdout: 200 with an empty body,
;; which it cannot tell from a module that printed nothing.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 256))))
