//! Where a frame's code comes from: the program's own sources, or a
//! dependency (a crate, the standard library, a shared library).
//!
//! # Rules
//!
//! 1. **A frame's source path names its crate** when the path lies in
//!    - a cargo registry checkout, `.../registry/src/INDEX/NAME-VERSION/`;
//!    - a cargo git checkout, `.../git/checkouts/NAME-HASH/REV/`: the crate
//!      is the directory holding `src/` below `REV` (or `NAME`), its
//!      version `git REV`;
//!    - a vendored directory, `.../vendor/NAME/` or `.../vendor/NAME-VERSION/`;
//!    - the standard library's sources as rustc records them,
//!      `/rustc/HASH/library/CRATE/` (or a `rust-src` checkout,
//!      `.../rustlib/src/rust/library/CRATE/`), and its crates.io
//!      dependencies, `/rust/deps/NAME-VERSION/`.
//!
//!    The last such directory in the path wins.
//! 2. **Without one, the frame's module decides**: code in a shared
//!    library is that library's (named by its file, `libc.so.6`).
//! 3. **Everything else is the program's own**: the executable's code from
//!    the workspace's members and path dependencies, which is what the
//!    user builds from their own sources. Nothing is named for it.
//! 4. **The version is the full one** (`bytes 1.12.2`, not `bytes 1.x`):
//!    the line numbers shown beside it are those of that exact release, and
//!    two releases of one crate in one build stay apart.

use crate::model::{Frame, Snapshot};
use std::fmt;

/// Code that is not the program's own: a crate, or a shared library.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dependency {
    /// The crate's package name (`mini-redis`, `std`) or the library's file
    /// name (`libc.so.6`).
    pub name: String,
    /// Its version (`1.12.2`, `git 1a2b3c4`), when the path gives one.
    pub version: Option<String>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{} {v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The dependency a frame whose source file is `file` belongs to (rule 1
/// and 2), or `None` for the program's own code (rule 3).
pub fn dependency(snap: &Snapshot, frame: &Frame, file: Option<&str>) -> Option<Dependency> {
    if let Some(d) = file.and_then(crate_of_path) {
        return Some(d);
    }
    let exe = snap.string(snap.process.exe);
    let module = frame.module.and_then(|m| snap.modules.get(m.index()))?;
    let path = snap.string(module.path);
    (!exe.is_empty() && path != exe).then(|| Dependency {
        name: path.rsplit('/').next().unwrap_or(path).to_owned(),
        version: None,
    })
}

/// The crate of the source file `path` by rule 1, if it names one.
pub fn crate_of_path(path: &str) -> Option<Dependency> {
    let dirs: Vec<&str> = path.split('/').collect();
    (0..dirs.len()).rev().find_map(|i| crate_at(&dirs, i))
}

/// The crate whose directory marker starts at `dirs[i]`, if any.
fn crate_at(dirs: &[&str], i: usize) -> Option<Dependency> {
    let at = |k: usize| dirs.get(i + k).copied().filter(|d| !d.is_empty());
    match dirs[i] {
        "registry" if at(1) == Some("src") => versioned(at(3)?, true),
        "deps" if i > 0 && dirs[i - 1] == "rust" => versioned(at(1)?, true),
        "vendor" if at(2).is_some() => versioned(at(1)?, false),
        "checkouts" if i > 0 && dirs[i - 1] == "git" => git_checkout(&dirs[i + 1..]),
        "library" if is_std_root(&dirs[..i]) => Some(Dependency {
            name: at(1)?.to_owned(),
            version: None,
        }),
        _ => None,
    }
}

/// Whether `before` ends where the standard library's sources are kept:
/// `/rustc/HASH` or `rustlib/src/rust`.
fn is_std_root(before: &[&str]) -> bool {
    match before {
        [.., "", "rustc", hash] => hash.bytes().all(|b| b.is_ascii_hexdigit()),
        [.., "rustlib", "src", "rust"] => true,
        _ => false,
    }
}

/// The crate of directory `NAME-VERSION`, or of a bare `NAME` unless
/// `versioned_only`.
fn versioned(dir: &str, versioned_only: bool) -> Option<Dependency> {
    let split = (dir.match_indices('-'))
        .map(|(at, _)| at)
        .find(|&at| is_version(&dir[at + 1..]));
    match split {
        Some(at) => Some(Dependency {
            name: dir[..at].to_owned(),
            version: Some(dir[at + 1..].to_owned()),
        }),
        None if versioned_only => None,
        None => Some(Dependency {
            name: dir.to_owned(),
            version: None,
        }),
    }
}

/// Whether `s` is a semantic version: `MAJOR.MINOR.PATCH`, then nothing or
/// a pre-release (`-...`) or build (`+...`) suffix.
fn is_version(s: &str) -> bool {
    let mut rest = s;
    for i in 0..3 {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        if i < 2 {
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => return false,
            }
        }
    }
    rest.is_empty() || rest.starts_with(['-', '+'])
}

/// A crate in a git checkout: `after` is `[NAME-HASH, REV, ...]`.
fn git_checkout(after: &[&str]) -> Option<Dependency> {
    let [repo, rev, rest @ ..] = after else {
        return None;
    };
    let in_subdir = rest.iter().position(|&d| d == "src").filter(|&s| s > 0);
    let name = match in_subdir {
        Some(s) => rest[s - 1],
        None => (repo.rsplit_once('-'))
            .filter(|(_, hash)| hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .map_or(*repo, |(name, _)| name),
    };
    (!name.is_empty() && !rev.is_empty()).then(|| Dependency {
        name: name.to_owned(),
        version: Some(format!("git {rev}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(path: &str) -> Option<String> {
        crate_of_path(path).map(|d| d.to_string())
    }

    #[test]
    fn registry_crates_are_named_with_their_version() {
        let index = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        for (dir, name) in [
            ("bytes-1.12.2", "bytes 1.12.2"),
            ("mini-redis-0.4.1", "mini-redis 0.4.1"),
            ("sha-1-0.10.1", "sha-1 0.10.1"),
            ("foo-1.0.0-beta.2", "foo 1.0.0-beta.2"),
            ("tokio-1.54.1", "tokio 1.54.1"),
        ] {
            assert_eq!(
                named(&format!("{index}/{dir}/src/a/b.rs")).as_deref(),
                Some(name)
            );
        }
        assert_eq!(
            named("/rust/deps/hashbrown-0.16.1/src/raw/mod.rs").as_deref(),
            Some("hashbrown 0.16.1")
        );
    }

    #[test]
    fn std_git_and_vendored_crates_are_named() {
        let cases = [
            (
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/alloc/src/vec/mod.rs",
                "alloc",
            ),
            (
                "/home/me/.rustup/toolchains/x/lib/rustlib/src/rust/library/std/src/rt.rs",
                "std",
            ),
            (
                "/home/me/.cargo/git/checkouts/tokio-2e4e9e5ad1ec3f8a/1a2b3c4/tokio-util/src/codec.rs",
                "tokio-util git 1a2b3c4",
            ),
            (
                "/home/me/.cargo/git/checkouts/minimq-0123456789abcdef/89abcde/src/lib.rs",
                "minimq git 89abcde",
            ),
            ("/build/svc/vendor/serde/src/de.rs", "serde"),
            ("/build/svc/vendor/serde-1.0.200/src/de.rs", "serde 1.0.200"),
        ];
        for (path, name) in cases {
            assert_eq!(named(path).as_deref(), Some(name), "{path}");
        }
    }

    #[test]
    fn the_programs_own_sources_name_no_crate() {
        for path in [
            "/home/me/svc/src/main.rs",
            "/home/me/tokio-service/src/main.rs",
            "/home/me/registry/src/main.rs",
            "/work/turbowish-alloc/src/heap/shim.rs",
            "/home/me/library/std/src/x.rs",
            "src/main.rs",
            "./nptl/pthread_create.c",
            "",
        ] {
            assert_eq!(named(path), None, "{path}");
        }
    }

    #[test]
    fn versions_are_semantic_versions() {
        for v in ["1.2.3", "0.4.1", "1.0.0-beta.2", "1.0.0+git"] {
            assert!(is_version(v), "{v}");
        }
        for v in ["1", "1.2", "1.2.x", "a.b.c", "1.2.3x", ""] {
            assert!(!is_version(v), "{v}");
        }
    }
}
