//! The rest of WASI preview1: the file-system, socket and signal calls a
//! gateway module has no use for (no preopens, no sockets). A module may
//! still import them (wasi-libc pulls some in), so each is defined with its
//! preview1 signature and answers ENOSYS; a mistyped import still fails to
//! link. Names outside preview1 are not defined at all, so a module
//! importing one fails to load, naming the import.

use wasmtime::{FuncType, Linker, Val, ValType};

use super::host_calls::{LeanState, ENOSYS, WASI};

/// A parameter's type: preview1 only has these two.
#[derive(Clone, Copy)]
enum Param {
    I,
    L,
}
use Param::{I, L};

/// Name and parameter types; every one returns an errno (`i32`).
const UNSUPPORTED: &[(&str, &[Param])] = &[
    ("fd_advise", &[I, L, L, I]),
    ("fd_allocate", &[I, L, L]),
    ("fd_datasync", &[I]),
    ("fd_fdstat_set_rights", &[I, L, L]),
    ("fd_filestat_set_size", &[I, L]),
    ("fd_filestat_set_times", &[I, L, L, I]),
    ("fd_pread", &[I, I, I, L, I]),
    ("fd_pwrite", &[I, I, I, L, I]),
    ("fd_readdir", &[I, I, I, L, I]),
    ("fd_renumber", &[I, I]),
    ("path_create_directory", &[I, I, I]),
    ("path_filestat_get", &[I, I, I, I, I]),
    ("path_filestat_set_times", &[I, I, I, I, L, L, I]),
    ("path_link", &[I, I, I, I, I, I, I]),
    ("path_open", &[I, I, I, I, I, L, L, I, I]),
    ("path_readlink", &[I, I, I, I, I, I]),
    ("path_remove_directory", &[I, I, I]),
    ("path_rename", &[I, I, I, I, I, I]),
    ("path_symlink", &[I, I, I, I, I]),
    ("path_unlink_file", &[I, I, I]),
    ("proc_raise", &[I]),
    ("sock_accept", &[I, I, I]),
    ("sock_recv", &[I, I, I, I, I, I]),
    ("sock_send", &[I, I, I, I, I]),
    ("sock_shutdown", &[I, I]),
];

pub(crate) fn link(linker: &mut Linker<LeanState>) -> wasmtime::Result<()> {
    for (name, params) in UNSUPPORTED {
        let params = params.iter().map(|p| match p {
            I => ValType::I32,
            L => ValType::I64,
        });
        let ty = FuncType::new(linker.engine(), params, [ValType::I32]);
        linker.func_new(WASI, name, ty, |_, _, results| {
            results[0] = Val::I32(ENOSYS);
            Ok(())
        })?;
    }
    Ok(())
}
