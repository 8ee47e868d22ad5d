//! Tidy: the architecture's invariants (ARCHITECTURE.md) as checks over the
//! source tree, so a breach fails the suite instead of waiting for a
//! review. Each rule is a function over (path, text) and is itself tested
//! on a planted violation, so no rule can quietly stop matching.

use std::path::{Path, PathBuf};

/// One file of the tree: its path relative to the crate root, with `/`.
struct File {
    path: String,
    text: String,
}

/// A rule's complaint.
#[derive(Debug, PartialEq, Eq)]
struct Breach {
    rule: &'static str,
    path: String,
    line: usize,
    text: String,
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn files(under: &str, ext: &str) -> Vec<File> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join(under), ext, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| File {
            path: p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/"),
            text: std::fs::read_to_string(&p).unwrap_or_default(),
        })
        .collect()
}

/// The code lines of a Rust file: comments (`//`, `//!`, `///`) are prose
/// about the code, not uses of it, so they are skipped.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

fn find(rule: &'static str, f: &File, mut hit: impl FnMut(&str) -> bool, out: &mut Vec<Breach>) {
    for (line, l) in code_lines(&f.text) {
        if hit(l) {
            out.push(Breach {
                rule,
                path: f.path.clone(),
                line,
                text: l.trim().to_string(),
            });
        }
    }
}

/// Whether `l` names the crate `sled` (a path or an import), as opposed to
/// our own `store::sled` module (always reached through `::`) or a word in
/// a string.
fn names_sled_crate(l: &str) -> bool {
    let code = l.split('"').step_by(2).collect::<Vec<_>>().join("\"\"");
    let bare_path = code.match_indices("sled::").any(|(i, _)| {
        let before = &code[..i];
        !(before.ends_with("::") || before.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    });
    bare_path || code.trim_start().starts_with("use sled") || code.contains("extern crate sled")
}

/// Rust rules: imports between layers, sled's place, the wall clock.
fn rust_rules(f: &File, out: &mut Vec<Breach>) {
    let p = f.path.as_str();
    if !p.starts_with("src/store/sled/") {
        find("sled outside store/sled", f, names_sled_crate, out);
    }
    if !p.starts_with("src/store/") {
        find(
            "a backend named outside store",
            f,
            |l| l.contains("SledStore") || l.contains("PgStore"),
            out,
        );
    }
    if p.starts_with("src/http/") {
        find("http imports store", f, |l| l.contains("crate::store"), out);
    }
    let lower = [
        "src/service/",
        "src/store/",
        "src/domain/",
        "src/delivery/",
        "src/wire/",
    ];
    if lower.iter().any(|d| p.starts_with(d)) {
        find(
            "a lower layer imports http or cli",
            f,
            |l| l.contains("crate::http") || l.contains("crate::cli"),
            out,
        );
    }
    if p.starts_with("src/domain/") || p.starts_with("src/wire/") {
        find(
            "I/O in a pure layer",
            f,
            |l| {
                [
                    "crate::store",
                    "crate::service",
                    "crate::delivery",
                    "std::fs",
                    "std::process",
                    "TcpStream",
                    "TcpListener",
                    "UdpSocket",
                    "ToSocketAddrs",
                ]
                .iter()
                .any(|m| l.contains(m))
            },
            out,
        );
    }
    if p != "src/clock.rs" {
        find(
            "the wall clock read outside clock.rs",
            f,
            |l| {
                [
                    "SystemTime::now",
                    "OffsetDateTime::now_utc",
                    "OffsetDateTime::now_local",
                ]
                .iter()
                .any(|m| l.contains(m))
            },
            out,
        );
    }
}

/// Template rules: nothing is rendered unescaped.
fn template_rules(f: &File, out: &mut Vec<Breach>) {
    find(
        "a template turns escaping off",
        f,
        |l| {
            let squeezed: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            squeezed.contains("|safe") || squeezed.contains("escape=\"none\"")
        },
        out,
    );
}

fn breaches(rust: &[File], templates: &[File]) -> Vec<Breach> {
    let mut out = Vec::new();
    for f in rust {
        rust_rules(f, &mut out);
    }
    for f in templates {
        template_rules(f, &mut out);
    }
    out
}

#[test]
fn the_tree_keeps_the_architecture_invariants() {
    let rust = files("src", "rs");
    let templates = files("templates", "html");
    assert!(rust.len() > 50 && !templates.is_empty(), "found the tree");
    let found = breaches(&rust, &templates);
    assert!(
        found.is_empty(),
        "ARCHITECTURE.md's invariants are broken:\n{}",
        found
            .iter()
            .map(|b| format!("  {}:{}: {} — {}", b.path, b.line, b.rule, b.text))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn public_items_must_be_documented_and_the_clock_is_banned_by_clippy() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .unwrap_or_default();
    assert!(
        lib.contains("#![warn(missing_docs)]"),
        "src/lib.rs must keep #![warn(missing_docs)] (clippy -D warnings makes it an error)"
    );
    let clippy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/clippy.toml"))
        .unwrap_or_default();
    for m in [
        "std::time::SystemTime::now",
        "time::OffsetDateTime::now_utc",
    ] {
        assert!(clippy.contains(m), "clippy.toml must disallow {m}");
    }
}

/// Every rule fires on a violation planted in a file of the right place,
/// and stays quiet where the rule allows it.
#[test]
fn each_rule_catches_a_planted_violation() {
    let file = |path: &str, text: &str| File {
        path: path.into(),
        text: text.into(),
    };
    let planted = [
        (
            "src/service/x.rs",
            "use sled::Db;",
            "sled outside store/sled",
        ),
        (
            "src/app.rs",
            "let s = SledStore::open(p);",
            "a backend named outside store",
        ),
        (
            "src/http/api/x.rs",
            "use crate::store::Due;",
            "http imports store",
        ),
        (
            "src/delivery/x.rs",
            "use crate::http::error::ApiError;",
            "a lower layer imports http or cli",
        ),
        (
            "src/store/x.rs",
            "use crate::cli::Target;",
            "a lower layer imports http or cli",
        ),
        (
            "src/domain/x.rs",
            "let f = std::fs::read(p);",
            "I/O in a pure layer",
        ),
        (
            "src/wire/x.rs",
            "let c = std::net::TcpStream::connect(a);",
            "I/O in a pure layer",
        ),
        (
            "src/wire/x.rs",
            "use crate::store::Store;",
            "I/O in a pure layer",
        ),
        (
            "src/delivery/x.rs",
            "let t = std::time::SystemTime::now();",
            "the wall clock read outside clock.rs",
        ),
    ];
    for (path, text, rule) in planted {
        let found = breaches(&[file(path, text)], &[]);
        assert!(
            found.iter().any(|b| b.rule == rule),
            "{rule} missed in {path}: {found:?}"
        );
    }
    let t = breaches(&[], &[file("templates/x.html", "<p>{{ url | safe }}</p>")]);
    assert_eq!(t.len(), 1, "{t:?}");

    // Allowed: each in its own place, in prose, or our own module's name.
    let allowed = [
        ("src/store/sled/mod.rs", "use sled::Db;"),
        ("src/store/mod.rs", "Ok(Arc::new(SledStore::open(dir, 1)?))"),
        ("src/store/mod.rs", "pub mod sled;"),
        ("src/clock.rs", "let t = SystemTime::now();"),
        ("src/service/x.rs", "/// like sled:: did, once"),
        ("src/service/x.rs", "use crate::store::Store;"),
        ("src/cli/x.rs", "use crate::http::api::json;"),
        ("src/domain/x.rs", "let msg = \"sled was here\";"),
        ("src/domain/x.rs", "use std::net::{IpAddr, Ipv4Addr};"),
    ];
    for (path, text) in allowed {
        let found = breaches(&[file(path, text)], &[]);
        assert!(found.is_empty(), "{path}: {text}: {found:?}");
    }
}
