;; Writes 100 MiB to stdout in 64 KiB writes, ignoring every error, then
;; exits 0. Over the 1 MiB output cap: 500 on every runtime, never a
;; truncated 200.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (local $n i32)
    (loop $flood
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const 65536))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $flood (i32.lt_u (local.get $n) (i32.const 1600))))))
