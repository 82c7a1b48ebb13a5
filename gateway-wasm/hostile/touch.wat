;; Grows its memory to 256 MiB in one step and writes to every 4 KiB page, so
;; the memory is really used (RSS, not only address space). Under
;; --wasm-max-memory-mb 64: 500 on every runtime.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "wasm:touched")
  (func (export "_start")
    (local $p i32)
    (if (i32.eq (memory.grow (i32.const 4095)) (i32.const -1))
      (then unreachable))
    (local.set $p (i32.const 65536))
    (loop $touch
      (i32.store8 (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $p) (i32.const 268435456))))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
