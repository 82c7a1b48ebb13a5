;; Sleeps 10 s in one WASI poll_oneoff on a relative monotonic clock: a host
;; call, where epoch interruption does not reach. Every runtime: 500 at the
;; deadline (--wasm-timeout-ms), and the gateway serves others after it.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..48: the subscription (tag 0 = clock); 64..96: the event; 128: nevents.
  (data (i32.const 256) "wasm:slept")
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 1))                 ;; clock id: monotonic
    (i64.store (i32.const 24) (i64.const 10000000000))       ;; timeout: 10 s
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (i32.store (i32.const 200) (i32.const 256))
    (i32.store (i32.const 204) (i32.const 10))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))))
