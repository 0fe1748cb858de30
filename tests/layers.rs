//! Imports point down only: no module in `src/` names a top-level module of
//! a layer above its own, as listed in the `text` block of `src/lib.rs`.
//!
//! The check reads source text, not the compiler's view: it finds every
//! `crate::x` (also `crate::{x, y}`) and every `super::` chain that climbs
//! to the crate root, in code (comments and string literals are skipped),
//! and takes `x` as the target module. A file's layer is that of its
//! top-level module (`src/x.rs`, `src/x/...`). Imports within one layer,
//! and file cycles inside one module, are allowed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Top-level module → layer (0 = top), from `src/lib.rs`'s `text` block.
fn layers(lib_rs: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut inside = false;
    let mut layer = 0;
    for line in lib_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with("```") {
            if inside {
                break;
            }
            inside = doc == "```text";
            continue;
        }
        if !inside || doc.is_empty() {
            continue;
        }
        // "a, b, c   description": names up to the first without a comma.
        for token in doc.split_whitespace() {
            let name = token.trim_end_matches(',');
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "src/lib.rs layer line {doc:?}: {token:?} is not a module name"
            );
            out.insert(name.to_string(), layer);
            if !token.ends_with(',') {
                break;
            }
        }
        layer += 1;
    }
    out
}

/// `src` with comments, string and char literals blanked out (newlines
/// kept, so line numbers still hold).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let ch = c[i];
        if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if ch == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && (at(i + 2) == '"' || at(i + 2) == '#')))
            && (i == 0 || !is_ident(c[i - 1]))
        {
            // Raw string: r"..." or r#"..."#.
            let mut hashes = 0;
            let mut j = i + 1;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            while j < c.len() {
                if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &x in &c[i..j.min(c.len())] {
                blank(&mut out, x);
            }
            i = j;
        } else if ch == '"' {
            blank(&mut out, ch);
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if ch == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime.
            blank(&mut out, ch);
            i += 1;
            if at(i) == '\\' {
                // The backslash and the char it escapes (maybe a quote).
                for _ in 0..2 {
                    if i < c.len() {
                        blank(&mut out, c[i]);
                        i += 1;
                    }
                }
            }
            while i < c.len() {
                let end = c[i] == '\'';
                blank(&mut out, c[i]);
                i += 1;
                if end {
                    break;
                }
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A path found in code: (line, the top-level module it names).
type Found = (usize, String);

/// Every crate-root module named by `code` (already `code_only`), for a
/// file `file_depth` modules below the crate root.
fn root_paths(code: &str, file_depth: usize) -> Vec<Found> {
    let c: Vec<char> = code.chars().collect();
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let ident_at = |k: usize| -> String { c[k..].iter().take_while(|&&x| is_ident(x)).collect() };
    let skip_ws = |mut k: usize| {
        while at(k).is_whitespace() {
            k += 1;
        }
        k
    };
    let line_of = |k: usize| c[..k].iter().filter(|&&x| x == '\n').count() + 1;
    let mut found = Vec::new();
    // Inline `mod x { ... }`s open here: the brace depth each closes at.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '{' {
            braces += 1;
        } else if ch == '}' {
            braces = braces.saturating_sub(1);
            if inline_mods.last() == Some(&braces) {
                inline_mods.pop();
            }
        }
        let starts_ident = is_ident(ch) && (i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == '$'));
        if !starts_ident {
            i += 1;
            continue;
        }
        let word = ident_at(i);
        let after = i + word.len();
        if word == "mod" {
            let name_at = skip_ws(after);
            let name = ident_at(name_at);
            if !name.is_empty() && at(skip_ws(name_at + name.len())) == '{' {
                inline_mods.push(braces);
            }
        }
        let preceded_by_path = i >= 2 && c[i - 1] == ':' && c[i - 2] == ':';
        let root_at = if word == "crate" && at(after) == ':' && at(after + 1) == ':' {
            Some(after + 2)
        } else if word == "super" && !preceded_by_path {
            // super::super::...: climbs one module per `super`.
            let mut n = 0;
            let mut k = i;
            while ident_at(k) == "super" && at(k + 5) == ':' && at(k + 6) == ':' {
                n += 1;
                k += 7;
            }
            (n > 0 && n == file_depth + inline_mods.len()).then_some(k)
        } else {
            None
        };
        if let Some(k) = root_at {
            let k = skip_ws(k);
            if at(k) == '{' {
                // crate::{a::b, c}: the first name of each item.
                let (mut depth, mut j, mut item_start) = (0usize, k, true);
                while j < c.len() {
                    match c[j] {
                        '{' => {
                            depth += 1;
                            if depth == 1 {
                                item_start = true;
                            }
                        }
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' if depth == 1 => item_start = true,
                        x if depth == 1 && item_start && is_ident(x) => {
                            found.push((line_of(j), ident_at(j)));
                            item_start = false;
                        }
                        x if !x.is_whitespace() && depth == 1 => item_start = false,
                        _ => {}
                    }
                    j += 1;
                }
            } else {
                let name = ident_at(k);
                if !name.is_empty() {
                    found.push((line_of(k), name));
                }
            }
        }
        i = after;
    }
    found
}

/// The top-level module of a file under `src/` and how many modules deep
/// it is (`src/a.rs` and `src/a/mod.rs`: 1, `src/a/b.rs`: 2).
fn module_of(rel: &Path) -> Option<(String, usize)> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let top = parts.first()?.trim_end_matches(".rs").to_string();
    if parts.len() == 1 && (top == "lib" || top == "main") {
        return None;
    }
    let last_is_mod = parts.last().is_some_and(|l| l == "mod.rs");
    Some((top, parts.len() - usize::from(last_is_mod)))
}

/// Violations in one file's source: "file:line: a (layer n) imports b (layer m)".
fn violations(
    rel: &Path,
    src: &str,
    layer: &HashMap<String, usize>,
    modules: &[String],
) -> Vec<String> {
    let Some((top, depth)) = module_of(rel) else {
        return Vec::new();
    };
    let Some(&own) = layer.get(&top) else {
        return vec![format!(
            "{}: module `{top}` is in no layer of src/lib.rs",
            rel.display()
        )];
    };
    root_paths(&code_only(src), depth)
        .into_iter()
        .filter(|(_, target)| modules.contains(target))
        .filter_map(|(line, target)| {
            let theirs = *layer.get(&target)?;
            (theirs < own).then(|| {
                format!(
                    "src/{}:{line}: `{top}` (layer {own}) imports `{target}` (layer {theirs}, above it)",
                    rel.display()
                )
            })
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(ROOT).join("src");
    let layer = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(layer.len() > 5, "no layer list found in src/lib.rs");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rel: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&src).unwrap().to_path_buf())
        .collect();
    let mut modules: Vec<String> = rel
        .iter()
        .filter_map(|r| module_of(r))
        .map(|m| m.0)
        .collect();
    modules.sort();
    modules.dedup();
    for name in layer.keys() {
        assert!(
            modules.contains(name),
            "src/lib.rs lists `{name}`, which is no module"
        );
    }
    let mut bad = Vec::new();
    for (f, r) in files.iter().zip(&rel) {
        bad.extend(violations(
            r,
            &std::fs::read_to_string(f).unwrap(),
            &layer,
            &modules,
        ));
    }
    assert!(bad.is_empty(), "imports that point up:\n{}", bad.join("\n"));
}

/// The checker itself: it sees what it must and nothing else.
fn check(path: &str, src: &str) -> Vec<String> {
    let lib =
        "//! ```text\n//! cli   top\n//! server, client   http\n//! segment  store\n//! ```\n";
    let modules = ["cli", "server", "client", "segment"].map(String::from);
    violations(Path::new(path), src, &layers(lib), &modules)
}

#[test]
fn an_upward_import_is_found_in_every_form() {
    for src in [
        "use crate::server::Front;",
        "use crate::{segment::Store, server};",
        "fn f() { crate::server::handle(); }",
        "fn f() { let x = crate::\n    server::X; }",
    ] {
        assert_eq!(check("segment/store.rs", src).len(), 1, "missed in {src:?}");
    }
    // super:: climbing to the crate root: two from src/segment/a.rs,
    // three inside an inline module there.
    assert_eq!(check("segment/a.rs", "use super::super::cli::X;").len(), 1);
    assert_eq!(
        check(
            "segment/a.rs",
            "mod tests { use super::super::super::cli::X; }"
        )
        .len(),
        1
    );
    assert_eq!(check("segment.rs", "use super::server;").len(), 1);
    let v = check("segment/mod.rs", "\n\nuse crate::cli;");
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("src/segment/mod.rs:3:"), "{v:?}");
}

#[test]
fn comments_strings_and_downward_imports_are_not_flagged() {
    for src in [
        "// use crate::server::Front;",
        "/* crate::server /* nested */ crate::cli */",
        "/// see crate::server::s3\nfn f() {}",
        r#"const S: &str = "crate::server::x";"#,
        r##"const S: &str = r#"crate::server "quoted" "#;"##,
        "const C: char = '\"'; const D: &str = \"crate::cli\";",
        "const Q: char = '\\''; const D: &str = \"crate::cli\";",
        "fn f<'a>(x: &'a str) -> &'a str { x } // crate::cli",
        "use crate::segment::x; use super::writer;",
        "pub(crate) fn f() {}",
        "mod tests { use super::super::x; }",
        "macro_rules! m { () => { $crate::server::x } }",
    ] {
        assert_eq!(check("server/s3.rs", src), Vec::<String>::new(), "{src:?}");
        assert_eq!(
            check("segment/writer.rs", src),
            Vec::<String>::new(),
            "{src:?}"
        );
    }
}

#[test]
fn a_module_in_no_layer_is_reported() {
    assert_eq!(check("newthing/mod.rs", "").len(), 1);
}
