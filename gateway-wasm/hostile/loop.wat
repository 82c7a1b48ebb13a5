;; Spins forever in Wasm code. Every runtime: 500 at the deadline.
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $spin (br $spin))))
