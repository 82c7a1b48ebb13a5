//! Makes a module recyclable, at build time (`--precompile-to`): checks that
//! all of an instance's state a request can change is state the host can put
//! back, and exports what Wasmtime would otherwise hide from the host.
//!
//! An instance's state is its memories, globals, tables, and the dropped
//! flags of its passive segments. A recycled instance restores its memory
//! (dirty pages) and its mutable globals; so the module must have one
//! memory, and no instruction may change a table or drop a segment. Wasmtime
//! only reaches a global through an export, so each mutable global defined
//! by the module is exported as `__wgb_global_<index>`. Every other section
//! is copied byte for byte: the compiled code is the module's own.

use anyhow::{bail, ensure, Context as _};
use wasm_encoder::{ExportKind, ExportSection, RawSection};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef, Validator, WasmFeatures};

/// Exported `_start` under this name marks a prepared module: the host
/// refuses one without it (it could not restore the module's globals).
pub const MARKER: &str = "__wgb_recycled";
/// The module's memory, exported again under a name the host relies on.
pub const MEMORY: &str = "__wgb_memory";
/// The prefix of each exported mutable global's name.
pub const GLOBAL_PREFIX: &str = "__wgb_global_";

/// The Wasm 2.0 features (and extended constants): none of them adds state
/// outside memories, globals and tables. GC objects, exception tags, shared
/// memories and more memories than one would, so they are refused.
fn features() -> WasmFeatures {
    WasmFeatures::WASM2 | WasmFeatures::EXTENDED_CONST
}

/// `wasm` (binary or WAT) with the exports a recycled instance needs, or why
/// it cannot be recycled.
pub fn prepare(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    let wasm = wat::parse_bytes(wasm).context("parsing the module")?;
    Validator::new_with_features(features())
        .validate_all(&wasm)
        .context("the module uses a feature a recycled instance cannot restore (Wasm 2.0 only)")?;

    let mut memories = 0u32;
    let mut imported_globals = 0u32;
    let mut mutable = Vec::new();
    let mut exports = Vec::new();
    let mut start = None;
    let mut out = wasm_encoder::Module::new();
    let mut exported = false;
    for payload in Parser::new(0).parse_all(&wasm) {
        let payload = payload?;
        match &payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    match import?.ty {
                        TypeRef::Global(_) => imported_globals += 1,
                        TypeRef::Memory(_) => memories += 1,
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(reader) => memories += reader.count(),
            Payload::GlobalSection(reader) => {
                for (i, global) in reader.clone().into_iter().enumerate() {
                    if global?.ty.mutable {
                        mutable.push(imported_globals + u32::try_from(i)?);
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader.clone() {
                    let export = export?;
                    if export.name == "_start" && export.kind == ExternalKind::Func {
                        start = Some(export.index);
                    }
                    ensure!(
                        !export.name.starts_with("__wgb_"),
                        "the module already exports `{}`, a name the host reserves",
                        export.name
                    );
                    exports.push((export.name.to_owned(), kind(export.kind)?, export.index));
                }
            }
            Payload::CodeSectionEntry(body) => {
                for op in body.get_operators_reader()? {
                    if let Some(name) = changes_table_or_segment(&op?) {
                        bail!("the module uses `{name}`: a recycled instance cannot undo it");
                    }
                }
            }
            _ => {}
        }
        if let Payload::ExportSection(_) = payload {
            ensure!(
                memories == 1,
                "the module has {memories} memories; recycling restores exactly one"
            );
            let start =
                start.context("the module exports no `_start`: it is not a WASI command")?;
            let mut section = ExportSection::new();
            for (name, kind, index) in &exports {
                section.export(name, *kind, *index);
            }
            section.export(MARKER, ExportKind::Func, start);
            section.export(MEMORY, ExportKind::Memory, 0);
            for index in &mutable {
                section.export(
                    &format!("{GLOBAL_PREFIX}{index}"),
                    ExportKind::Global,
                    *index,
                );
            }
            out.section(&section);
            exported = true;
        } else if let Some((id, range)) = payload.as_section() {
            let range = usize::try_from(range.start)?..usize::try_from(range.end)?;
            out.section(&RawSection {
                id,
                data: &wasm[range],
            });
        }
    }
    ensure!(
        exported,
        "the module has no exports: it is not a WASI command"
    );
    Ok(out.finish())
}

fn kind(kind: ExternalKind) -> anyhow::Result<ExportKind> {
    Ok(match kind {
        ExternalKind::Func => ExportKind::Func,
        ExternalKind::Table => ExportKind::Table,
        ExternalKind::Memory => ExportKind::Memory,
        ExternalKind::Global => ExportKind::Global,
        other => bail!("an export of kind {other:?}, outside Wasm 2.0"),
    })
}

/// The name of an instruction whose effect outlives the request in a way
/// restoring memory and globals does not undo.
fn changes_table_or_segment(op: &Operator) -> Option<&'static str> {
    Some(match op {
        Operator::TableSet { .. } => "table.set",
        Operator::TableGrow { .. } => "table.grow",
        Operator::TableFill { .. } => "table.fill",
        Operator::TableCopy { .. } => "table.copy",
        Operator::TableInit { .. } => "table.init",
        Operator::ElemDrop { .. } => "elem.drop",
        Operator::DataDrop { .. } => "data.drop",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(wasm: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::ExportSection(reader) = payload.unwrap() {
                names.extend(reader.into_iter().map(|e| e.unwrap().name.to_owned()));
            }
        }
        names
    }

    #[test]
    fn exports_start_memory_and_each_mutable_global_and_keeps_the_rest() {
        let wat = r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
            (memory 1)
            (global (mut i32) (i32.const 7))
            (global i32 (i32.const 1))
            (global (mut i64) (i64.const 9))
            (data (i32.const 16) "hi")
            (func $start (export "_start") global.get 0 drop)
            (export "memory" (memory 0)))"#;
        let out = prepare(wat.as_bytes()).unwrap();
        Validator::new_with_features(features())
            .validate_all(&out)
            .unwrap();
        assert_eq!(
            exports(&out),
            [
                "_start",
                "memory",
                MARKER,
                MEMORY,
                "__wgb_global_0",
                "__wgb_global_2"
            ]
        );
        // Only the export section differs: the code is the module's own.
        let original = wat::parse_str(wat).unwrap();
        assert!(out.len() > original.len());
        let code = |wasm: &[u8]| {
            Parser::new(0)
                .parse_all(wasm)
                .find_map(|p| {
                    let p = p.unwrap();
                    let (id, range) = p.as_section()?;
                    (id == 10).then(|| wasm[range.start as usize..range.end as usize].to_vec())
                })
                .unwrap()
        };
        assert_eq!(code(&out), code(&original));
    }

    #[test]
    fn refuses_what_it_could_not_restore() {
        let cases = [
            (
                r#"(module (memory 1) (table 1 funcref) (func (export "_start") i32.const 0 ref.null func table.set 0))"#,
                "table.set",
            ),
            (
                r#"(module (memory 1) (data "x") (func (export "_start") data.drop 0))"#,
                "data.drop",
            ),
            (r#"(module (func (export "_start")))"#, "0 memories"),
            (
                r#"(module (memory 1) (func (export "run")))"#,
                "no `_start`",
            ),
            (
                r#"(module (memory 1) (func (export "_start")) (export "__wgb_x" (memory 0)))"#,
                "reserves",
            ),
            (
                r#"(module (memory 1 1 shared) (func (export "_start")))"#,
                "feature",
            ),
        ];
        for (wat, expected) in cases {
            let err = format!("{:#}", prepare(wat.as_bytes()).unwrap_err());
            assert!(err.contains(expected), "{wat}: {err}");
        }
    }
}
