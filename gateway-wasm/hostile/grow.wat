;; Grows its memory a page at a time towards 1 GiB without touching it; a
;; refused grow is a trap. Under --wasm-max-memory-mb 64: 500 on every
;; runtime (without a cap it would answer 200 "wasm:grown").
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "wasm:grown")
  (func (export "_start")
    (loop $grow
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
        (then unreachable))
      (br_if $grow (i32.lt_u (memory.size) (i32.const 16384))))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 10))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
