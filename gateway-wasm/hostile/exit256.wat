;; proc_exit(256) without output. Wasmtime (embedded and CLI) refuses a status
;; outside [0, 126): 500. WasmEdge passes it to exit_group(256), where the OS
;; would keep 8 bits (status 0); gateway-host's exit guard (a seccomp filter
;; on the runtime process) kills such an exit, so the answer is 500 too.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 256))))
