//! Hand-written WASI preview1 command modules, as WAT.

/// Echoes stdin as `wasm:` + input, like `gateway-wasm`, unless the body
/// starts with `!` and a letter that picks a misbehaviour:
/// `!t` traps (`unreachable`), `!l` loops forever, `!g` grows memory a page
/// at a time until refused and then exits with the page count as status,
/// `!x` calls `proc_exit(3)`, `!f` writes to stdout forever, and `!z` echoes
/// and then calls `proc_exit(0)`. One module, so every misbehaviour can be
/// followed by a good call on the same transform.
pub const BEHAVIOURS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; 0: iovec {ptr, len}; 8: nread / nwritten; 16: "wasm:"; 1024..: stdin.
  (data (i32.const 16) "wasm:")

  ;; Reads stdin to 1024.. (up to the end of the 2 initial pages).
  (func $read_all (result i32)
    (local $len i32)
    (block $eof
      (loop $more
        (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $len)))
        (i32.store (i32.const 4) (i32.sub (i32.const 130048) (local.get $len)))
        (br_if $eof (i32.eqz (i32.load (i32.const 4))))
        (br_if $eof
          (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $eof (i32.eqz (i32.load (i32.const 8))))
        (local.set $len (i32.add (local.get $len) (i32.load (i32.const 8))))
        (br $more)))
    (local.get $len))

  ;; Writes [ptr, ptr + len) to stdout; exits with 5 if the write fails.
  (func $write (param $ptr i32) (param $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $len))
        (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
          (then (call $proc_exit (i32.const 5))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
        (br $more))))

  (func (export "_start")
    (local $len i32)
    (local $cmd i32)
    (local.set $len (call $read_all))
    (if (i32.ge_u (local.get $len) (i32.const 2))
      (then
        (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 33)) ;; '!'
          (then (local.set $cmd (i32.load8_u (i32.const 1025)))))))
    (if (i32.eq (local.get $cmd) (i32.const 116)) ;; 't'
      (then unreachable))
    (if (i32.eq (local.get $cmd) (i32.const 108)) ;; 'l'
      (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $cmd) (i32.const 103)) ;; 'g'
      (then
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        (call $proc_exit (memory.size))))
    (if (i32.eq (local.get $cmd) (i32.const 120)) ;; 'x'
      (then (call $proc_exit (i32.const 3))))
    (if (i32.eq (local.get $cmd) (i32.const 102)) ;; 'f'
      (then
        (loop $flood
          (call $write (i32.const 1024) (i32.const 65536))
          (br $flood))))
    (call $write (i32.const 16) (i32.const 5))
    (call $write (i32.const 1024) (local.get $len))
    (if (i32.eq (local.get $cmd) (i32.const 122)) ;; 'z'
      (then (call $proc_exit (i32.const 0)))))
)
"#;

/// Loops forever, whatever the input.
pub const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $spin (br $spin))))
"#;

/// Imports something WASI preview1 does not have.
pub const BAD_IMPORT: &str = r#"
(module
  (import "env" "nope" (func))
  (func (export "_start")))
"#;

/// Valid, but not a command: no `_start`.
pub const NO_START: &str = r#"
(module (func (export "main")))
"#;
