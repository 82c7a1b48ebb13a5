;; A probe of page residency across requests: can one request leave bits
;; for a later one in which memory pages are mapped? (README.md, "Reuse and
;; page residency"; gateway-host/tests/it/residency.rs runs it.)
;;
;; The body picks what it does: byte 0 the operation, byte 1 the region
;; ('1': 64 pages from 1 MiB, inside the pool's old 2 MiB keep-resident
;; span; '6': 64 pages from 6 MiB), bytes 2..10 a 64-bit secret.
;;   'w': writes one byte to page i of the region for each set bit i;
;;   'v': reads one byte of page i for each set bit i (maps it read-only);
;;   'p': times one read of each of the 64 pages with the monotonic clock
;;        and answers the 64 durations (ns, u64 little-endian, 512 bytes).
;; A page some earlier request mapped answers in tens of nanoseconds; one
;; that is not mapped takes a page fault (microseconds).
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  ;; 7 MiB: both regions fit.
  (memory (export "memory") 112)
  (global $sink (mut i32) (i32.const 0))
  ;; 0: iovec; 8: nread/nwritten; 16: clock out; 64..74: the body; 1024..1536: durations.
  (func $now (result i64)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 16)))
    (i64.load (i32.const 16)))
  (func $page (param $i i32) (result i32)
    (i32.add
      (select (i32.const 0x600000) (i32.const 0x100000)
        (i32.eq (i32.load8_u (i32.const 65)) (i32.const 54))) ;; '6'
      (i32.mul (local.get $i) (i32.const 4096))))
  (func $bit (param $i i32) (result i32)
    (i32.and
      (i32.shr_u
        (i32.load8_u (i32.add (i32.const 66) (i32.shr_u (local.get $i) (i32.const 3))))
        (i32.and (local.get $i) (i32.const 7)))
      (i32.const 1)))
  (func (export "_start")
    (local $i i32)
    (local $op i32)
    (local $t0 i64)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 10))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $op (i32.load8_u (i32.const 64)))
    (loop $each
      (if (i32.eq (local.get $op) (i32.const 119)) ;; 'w'
        (then (if (call $bit (local.get $i))
          (then (i32.store8 (call $page (local.get $i)) (i32.const 1))))))
      (if (i32.eq (local.get $op) (i32.const 118)) ;; 'v'
        (then (if (call $bit (local.get $i))
          (then (global.set $sink (i32.add (global.get $sink)
            (i32.load8_u (call $page (local.get $i)))))))))
      (if (i32.eq (local.get $op) (i32.const 112)) ;; 'p'
        (then
          (local.set $t0 (call $now))
          (global.set $sink (i32.add (global.get $sink)
            (i32.load8_u (call $page (local.get $i)))))
          (i64.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 3)))
            (i64.sub (call $now) (local.get $t0)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (i32.const 64))))
    (if (i32.eq (local.get $op) (i32.const 112))
      (then
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 512))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))))
