;; Recurses until the call stack is exhausted (Wasmtime's 512 KiB, the
;; runtime's own limit elsewhere), each frame keeping four locals live
;; across its call. Every runtime: 500. In-process, it also reaches the
;; deepest stack page a module can: gateway-host/tests/it/residency.rs
;; checks that no new page of the gateway's stack becomes resident.
(module
  (memory (export "memory") 1)
  (func $down (param $n i64) (result i64)
    (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (local.set $a (i64.add (local.get $n) (i64.const 1)))
    (local.set $b (i64.mul (local.get $a) (i64.const 3)))
    (local.set $c (i64.xor (local.get $b) (local.get $n)))
    (local.set $d (i64.sub (local.get $c) (i64.const 7)))
    (i64.add
      (call $down (local.get $a))
      (i64.add (i64.add (local.get $a) (local.get $b))
               (i64.add (local.get $c) (local.get $d)))))
  (func (export "_start")
    (drop (call $down (i64.const 0)))))
