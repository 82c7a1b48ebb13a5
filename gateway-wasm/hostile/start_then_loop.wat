;; One deadline per request: its start function spins 750 ms of the 1 s
;; deadline (reading the monotonic clock), then `_start` loops forever (Wasm code),
;; then grows memory and answers "wasm:late". Were the deadline restarted
;; for `_start`, it would answer at 1.7 s or be stopped at 1.75 s. Every
;; runtime: 500 at the deadline (1 s after the request began).
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "wasm:late")
  ;; The monotonic clock in ns (at 0).
  (func $now (result i64)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func $init
    (local $until i64)
    (local.set $until (i64.add (call $now) (i64.const 750000000)))
    (loop $spin (br_if $spin (i64.lt_u (call $now) (local.get $until)))))
  (start $init)
  (func (export "_start")
    ;; Spin in Wasm code, where only epoch interruption reaches.
    (loop $spin (br $spin))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 200) (i32.const 256))
    (i32.store (i32.const 204) (i32.const 9))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))))
