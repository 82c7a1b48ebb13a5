;; Never reads stdin (the gateway's write to a CLI runtime's stdin then fails
;; with EPIPE, which must not matter) and answers "wasm:ignored". Every
;; runtime: 200 "wasm:ignored", whatever the size of the body.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "wasm:ignored")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
