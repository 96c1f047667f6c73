//! The book's sources stay true to the code they teach.
//!
//! mdBook only warns when an `{{#include}}` names a file or anchor that is
//! gone, says nothing when a stored diff no longer matches the steps, and
//! renders a link to a missing chapter as a dead link. These checks turn each
//! of those into a failure that names the chapter and the problem:
//!
//! - every include names an existing file, and an existing anchor in it;
//! - every `src/bin/stepN.rs` is included by some chapter;
//! - every chapter file is listed in `SUMMARY.md`;
//! - every link between chapters lands on a file (and heading) that exists;
//! - every `book/src/diffs/stepN.diff` still turns step N-1 into step N.

use std::{
    collections::BTreeSet,
    fs,
    path::{Component, Path, PathBuf},
};

use crate::root;

/// `book/src`, where the chapters live.
fn book_src() -> PathBuf {
    root().join("book").join("src")
}

/// One Markdown file of the book.
pub struct Chapter {
    /// Relative to `book/src`, for messages: `ch03-step3.md`.
    pub name: String,
    /// Absolute.
    pub path: PathBuf,
    pub text: String,
}

impl Chapter {
    fn dir(&self) -> &Path {
        self.path.parent().expect("a chapter lives in a directory")
    }
}

/// Every `.md` file under `book/src`, in a stable order.
pub fn chapters() -> Vec<Chapter> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                found.push(path);
            }
        }
    }
    let src = book_src();
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    paths.sort();
    assert!(!paths.is_empty(), "no chapters in {}", src.display());
    paths
        .into_iter()
        .map(|path| Chapter {
            name: path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/"),
            text: fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display())),
            path,
        })
        .collect()
}

/// `a/b/../c` → `a/c`, without touching the file system (the file may not
/// exist, which is what the caller wants to find out).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A path relative to the repository root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

// ---------------------------------------------------------------------------
// Includes

/// One `{{#include path}}`, `{{#include path:anchor}}` or
/// `{{#rustdoc_include …}}` in a chapter.
#[derive(Debug)]
struct Include {
    line: usize,
    path: String,
    /// `None` for a whole file or a line range such as `:10:20`.
    anchor: Option<String>,
}

/// The includes in `text`. An include escaped with a backslash
/// (`\{{#include …}}`) is shown to the reader, not expanded, so it is skipped.
fn includes(text: &str) -> Vec<Include> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        let mut offset = 0;
        while let Some(at) = rest.find("{{#") {
            let escaped = line[..offset + at].ends_with('\\');
            let after = &rest[at + 3..];
            let Some(end) = after.find("}}") else { break };
            let inner = after[..end].trim();
            rest = &after[end + 2..];
            offset = line.len() - rest.len();
            if escaped {
                continue;
            }
            let Some((directive, argument)) = inner.split_once(char::is_whitespace) else {
                continue;
            };
            if directive != "include" && directive != "rustdoc_include" {
                continue;
            }
            let argument = argument.trim();
            let (path, selector) = match argument.split_once(':') {
                Some((path, selector)) => (path, Some(selector)),
                None => (argument, None),
            };
            // `:10`, `:10:20`, `::20` and `:` select lines; anything else
            // names an anchor.
            let anchor = selector
                .filter(|s| !s.chars().all(|c| c.is_ascii_digit() || c == ':'))
                .map(str::to_owned);
            found.push(Include {
                line: index + 1,
                path: path.trim().to_owned(),
                anchor,
            });
        }
    }
    found
}

/// Whether a line carries the marker `ANCHOR: name` (or `ANCHOR_END: name`),
/// read the way mdBook reads it: the marker, optional spaces, then a name
/// of word characters and dashes.
fn has_marker(line: &str, marker: &str, name: &str) -> bool {
    let Some(at) = line.find(marker) else {
        return false;
    };
    let found: String = line[at + marker.len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    found == name
}

pub fn includes_name_existing_files_and_anchors() -> Vec<String> {
    let mut problems = Vec::new();
    for chapter in chapters() {
        for include in includes(&chapter.text) {
            let target = normalize(&chapter.dir().join(&include.path));
            let at = format!("{}:{}", chapter.name, include.line);
            let Ok(source) = fs::read_to_string(&target) else {
                problems.push(format!(
                    "{at}: includes {}, which does not exist ({})",
                    include.path,
                    shown(&target)
                ));
                continue;
            };
            let Some(anchor) = &include.anchor else {
                continue;
            };
            let lines: Vec<&str> = source.lines().collect();
            let starts = lines
                .iter()
                .position(|line| has_marker(line, "ANCHOR:", anchor));
            let ends = lines
                .iter()
                .rposition(|line| has_marker(line, "ANCHOR_END:", anchor));
            match (starts, ends) {
                (Some(start), Some(end)) if start < end => {}
                (Some(_), Some(_)) => problems.push(format!(
                    "{at}: in {}, `ANCHOR_END: {anchor}` comes before `ANCHOR: {anchor}`",
                    shown(&target)
                )),
                (None, _) => problems.push(format!(
                    "{at}: {} has no `ANCHOR: {anchor}`",
                    shown(&target)
                )),
                (_, None) => problems.push(format!(
                    "{at}: {} has no `ANCHOR_END: {anchor}`",
                    shown(&target)
                )),
            }
        }
    }
    problems
}

pub fn every_step_has_a_chapter() -> Vec<String> {
    let bin = root().join("src").join("bin");
    let mut steps: Vec<PathBuf> = fs::read_dir(&bin)
        .expect("src/bin")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_prefix("step"))
                .and_then(|name| name.strip_suffix(".rs"))
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    steps.sort();
    assert!(!steps.is_empty(), "no src/bin/stepN.rs found");

    let included: BTreeSet<PathBuf> = chapters()
        .iter()
        .flat_map(|chapter| {
            includes(&chapter.text)
                .into_iter()
                .map(|include| normalize(&chapter.dir().join(include.path)))
        })
        .collect();
    steps
        .iter()
        .filter(|step| !included.contains(*step))
        .map(|step| {
            let file = shown(step);
            format!(
                "{file}: no chapter in book/src includes it; write one that \
                 shows its code with an include of ../../{file}:main"
            )
        })
        .collect()
}

pub fn every_chapter_is_in_the_summary() -> Vec<String> {
    let chapters = chapters();
    let summary = chapters
        .iter()
        .find(|chapter| chapter.name == "SUMMARY.md")
        .expect("book/src/SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary.text)
        .into_iter()
        .map(|link| link.target.split('#').next().unwrap().to_owned())
        .collect();
    chapters
        .iter()
        .filter(|chapter| chapter.name != "SUMMARY.md" && !listed.contains(&chapter.name))
        .map(|chapter| {
            format!(
                "{}: not listed in SUMMARY.md, so mdBook never renders it",
                chapter.name
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Links

/// One Markdown link `[text](target)` outside code blocks.
struct Link {
    line: usize,
    target: String,
}

/// Runs `visit` on each line that is not inside a fenced code block (nor
/// a fence itself), with its 1-based number.
pub fn lines_outside_code_blocks(text: &str, mut visit: impl FnMut(usize, &str)) {
    let mut fence: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        if marker.len() >= 3 {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_none() {
            visit(index + 1, line);
        }
    }
}

/// Runs `visit` on each line that is not inside a fenced code block, with
/// its 1-based number; inline code spans are blanked out.
fn prose_lines(text: &str, mut visit: impl FnMut(usize, &str)) {
    lines_outside_code_blocks(text, |number, line| {
        // Drop `code spans`, which may show link syntax without being links.
        let mut prose = String::with_capacity(line.len());
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                prose.push_str(part);
            }
        }
        visit(number, &prose);
    });
}

fn links(text: &str) -> Vec<Link> {
    let mut found = Vec::new();
    prose_lines(text, |line, prose| {
        let mut rest = prose;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].trim();
            // `[text](target "title")`
            let target = target.split_whitespace().next().unwrap_or("");
            found.push(Link {
                line,
                target: target.trim_matches(['<', '>']).to_owned(),
            });
            rest = &after[end + 1..];
        }
    });
    found
}

/// The ids mdBook gives the headings of a chapter: the text lower-cased,
/// letters, digits, `_` and `-` kept, spaces turned into `-`, the rest
/// dropped, `-1`, `-2`… added to repeats; `{#id}` sets one by hand.
fn heading_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let title = title.trim();
        if let Some(start) = title.rfind("{#")
            && let Some(id) = title[start + 2..].strip_suffix('}')
        {
            ids.insert(id.to_owned());
            continue;
        }
        let mut id = String::new();
        let mut chars = title.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                // A link's target is not part of the heading's text.
                ']' if chars.peek() == Some(&'(') => {
                    for c in chars.by_ref() {
                        if c == ')' {
                            break;
                        }
                    }
                }
                c if c.is_alphanumeric() => id.extend(c.to_lowercase()),
                '_' | '-' => id.push(c),
                c if c.is_whitespace() => id.push('-'),
                _ => {}
            }
        }
        let mut unique = id.clone();
        let mut n = 1;
        while ids.contains(&unique) {
            unique = format!("{id}-{n}");
            n += 1;
        }
        ids.insert(unique);
    }
    ids
}

pub fn links_between_chapters_resolve() -> Vec<String> {
    let chapters = chapters();
    let mut problems = Vec::new();
    for chapter in &chapters {
        for link in links(&chapter.text) {
            let target = link.target.as_str();
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target, None),
            };
            let at = format!("{}:{}", chapter.name, link.line);
            let text = if file.is_empty() {
                // `#fragment` points into this chapter.
                chapter.text.clone()
            } else if file.ends_with(".md") {
                let path = normalize(&chapter.dir().join(file));
                if !path.starts_with(book_src()) {
                    problems.push(format!(
                        "{at}: links to {target}, outside book/src; mdBook renders only \
                         book/src, so the built book would have a dead link"
                    ));
                    continue;
                }
                match fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(_) => {
                        problems.push(format!(
                            "{at}: links to {file}, which is not in book/src ({})",
                            shown(&path)
                        ));
                        continue;
                    }
                }
            } else {
                // A picture or another file: mdBook copies what is under
                // book/src into the built book, and nothing else.
                let path = normalize(&chapter.dir().join(file));
                if !path.starts_with(book_src()) {
                    problems.push(format!(
                        "{at}: links to {target}, outside book/src; mdBook copies only \
                         book/src, so the built book would have a dead link"
                    ));
                } else if !path.is_file() {
                    problems.push(format!(
                        "{at}: links to {target}, which does not exist ({})",
                        shown(&path)
                    ));
                }
                continue;
            };
            if let Some(fragment) = fragment
                && !heading_ids(&text).contains(fragment)
            {
                problems.push(format!(
                    "{at}: links to {target}, but {} has no heading with id `{fragment}`",
                    if file.is_empty() { &chapter.name } else { file }
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// Stored diffs

/// A step file as the diffs see it: without the lines that hold anchor
/// markers, which only exist for the book, and without the `//!` header,
/// which each chapter says in prose (`book/gen-diffs.sh` drops both).
fn without_anchors(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//!"))
        .filter(|line| {
            !["ANCHOR:", "ANCHOR_END:"].iter().any(|marker| {
                line.find(marker).is_some_and(|at| {
                    line[at + marker.len()..]
                        .trim_start()
                        .starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
                })
            })
        })
        .collect()
}

/// `-12,7` or `+12` → (12, 7) or (12, 1).
fn range(field: &str) -> Option<(usize, usize)> {
    let (start, len) = field[1..].split_once(',').unwrap_or((&field[1..], "1"));
    Some((start.parse().ok()?, len.parse().ok()?))
}

/// Applies a unified diff to `old`, checking every context and removed
/// line; returns the new text's lines or what did not match.
fn apply(diff: &str, old: &[&str], old_name: &str, new_name: &str) -> Result<Vec<String>, String> {
    let mut lines = diff.lines().peekable();
    match (lines.next(), lines.next()) {
        (Some(from), Some(to))
            if from.strip_prefix("--- ").map(str::trim) == Some(old_name)
                && to.strip_prefix("+++ ").map(str::trim) == Some(new_name) => {}
        (from, to) => {
            return Err(format!(
                "its header reads {from:?}, {to:?}, not `--- {old_name}`, `+++ {new_name}`"
            ));
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut pos = 0; // the next line of `old` to use, 0-based
    let mut hunk = 0;
    while let Some(header) = lines.next() {
        hunk += 1;
        let fields: Vec<&str> = header.split_whitespace().collect();
        let (Some((old_start, old_len)), Some((_, new_len))) = (
            fields.get(1).and_then(|f| range(f)),
            fields.get(2).and_then(|f| range(f)),
        ) else {
            return Err(format!("hunk {hunk} has a bad header {header:?}"));
        };
        // An empty old range names the line *after which* lines are added.
        let start = if old_len == 0 {
            old_start
        } else {
            old_start - 1
        };
        if start < pos || start > old.len() {
            return Err(format!(
                "hunk {hunk} starts at line {old_start}, out of order"
            ));
        }
        out.extend(old[pos..start].iter().map(|line| line.to_string()));
        pos = start;
        let (mut removed, mut added) = (0, 0);
        while removed < old_len || added < new_len {
            let Some(line) = lines.next() else {
                return Err(format!("hunk {hunk} ends early"));
            };
            if line.starts_with('\\') {
                continue; // "\ No newline at end of file"
            }
            let (kind, text) = line.split_at(line.len().min(1));
            let kind = if kind.is_empty() { " " } else { kind };
            if kind == " " || kind == "-" {
                match old.get(pos) {
                    Some(actual) if *actual == text => {}
                    actual => {
                        return Err(format!(
                            "hunk {hunk} expects line {} to read {text:?}, but it reads {:?}",
                            pos + 1,
                            actual.copied().unwrap_or("<end of file>")
                        ));
                    }
                }
                pos += 1;
                removed += 1;
            }
            if kind == " " || kind == "+" {
                out.push(text.to_owned());
                added += 1;
            }
            if !matches!(kind, " " | "-" | "+") {
                return Err(format!(
                    "hunk {hunk} has a line that is not a diff line: {line:?}"
                ));
            }
        }
        while lines.peek().is_some_and(|line| line.starts_with('\\')) {
            lines.next();
        }
    }
    out.extend(old[pos..].iter().map(|line| line.to_string()));
    Ok(out)
}

pub fn stored_diffs_match_the_steps() -> Vec<String> {
    let diffs = book_src().join("diffs");
    let entries = match fs::read_dir(&diffs) {
        Ok(entries) => entries,
        Err(err) => return vec![format!("{}: {err}", shown(&diffs))],
    };
    let includers = |file: &str| -> String {
        let users: Vec<String> = chapters()
            .into_iter()
            .filter(|chapter| {
                includes(&chapter.text)
                    .iter()
                    .any(|include| include.path.ends_with(&format!("diffs/{file}")))
            })
            .map(|chapter| chapter.name)
            .collect();
        if users.is_empty() {
            "included by no chapter".to_owned()
        } else {
            format!("included by {}", users.join(", "))
        }
    };
    let mut problems = Vec::new();
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    let mut paths_checked = 0;
    for path in paths {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(n) = file
            .strip_prefix("step")
            .and_then(|rest| rest.strip_suffix(".diff"))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n >= 2)
        else {
            continue;
        };
        paths_checked += 1;
        let old_file = format!("src/bin/step{}.rs", n - 1);
        let new_file = format!("src/bin/step{n}.rs");
        let read = |name: &str| fs::read_to_string(root().join(name)).ok();
        let (Some(old), Some(new)) = (read(&old_file), read(&new_file)) else {
            problems.push(format!(
                "diffs/{file} ({}): {old_file} or {new_file} no longer exists; \
                 delete the diff or run book/gen-diffs.sh",
                includers(&file)
            ));
            continue;
        };
        let diff = fs::read_to_string(&path).unwrap();
        let result = apply(
            &diff,
            &without_anchors(&old),
            &format!("a/{old_file}"),
            &format!("b/{new_file}"),
        );
        let stale = match result {
            Err(why) => Some(why),
            Ok(lines) if lines != without_anchors(&new) => {
                let expected = without_anchors(&new);
                let at = lines
                    .iter()
                    .zip(&expected)
                    .position(|(got, want)| got != want)
                    .unwrap_or(lines.len().min(expected.len()));
                Some(format!(
                    "applied to {old_file} it gives a different {new_file} from line {}",
                    at + 1
                ))
            }
            Ok(_) => None,
        };
        if let Some(why) = stale {
            problems.push(format!(
                "diffs/{file} ({}) is stale: {why}; run book/gen-diffs.sh",
                includers(&file)
            ));
        }
    }
    if paths_checked == 0 {
        problems.push(format!("{}: no stepN.diff to check", shown(&diffs)));
    }
    problems.extend(stored_steps_match_the_steps(&diffs));
    problems
}

/// `book/src/diffs/stepN.rs`, the whole step as the chapters show it, is
/// `src/bin/stepN.rs` without its anchors and `//!` header.
fn stored_steps_match_the_steps(diffs: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(entries) = fs::read_dir(diffs) else {
        return problems;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(file.starts_with("step") && file.ends_with(".rs")) {
            continue;
        }
        let step_file = format!("src/bin/{file}");
        let Ok(step) = fs::read_to_string(root().join(&step_file)) else {
            problems.push(format!(
                "diffs/{file}: {step_file} no longer exists; delete it or run book/gen-diffs.sh"
            ));
            continue;
        };
        let stored = fs::read_to_string(&path).unwrap_or_default();
        if stored.lines().collect::<Vec<_>>() != without_anchors(&step) {
            problems.push(format!(
                "diffs/{file} is stale: it is not {step_file} without its anchors; \
                 run book/gen-diffs.sh"
            ));
        }
    }
    problems
}

// The checks check themselves: each must see the mistake it exists to catch.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_parser_reads_anchors_ranges_and_escapes() {
        let found = includes(
            "{{#include ../../src/bin/step2.rs:serve}}\n\
             x {{#rustdoc_include a.rs:2:5}} and {{#include diffs/step2.diff}}\n\
             \\{{#include not/expanded.rs:anchor}}\n",
        );
        let seen: Vec<(usize, &str, Option<&str>)> = found
            .iter()
            .map(|i| (i.line, i.path.as_str(), i.anchor.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, "../../src/bin/step2.rs", Some("serve")),
                (2, "a.rs", None),
                (2, "diffs/step2.diff", None),
            ]
        );
    }

    #[test]
    fn heading_ids_follow_mdbook() {
        let ids = heading_ids(
            "# Step 3's deadline (and why)\n## What `serve` does\n## Try it\n## Try it\n\
             ```text\n# not a heading\n```\n## Custom {#mine}\n## See [step 2](ch02.md) first\n",
        );
        let expected = [
            "step-3s-deadline-and-why",
            "what-serve-does",
            "try-it",
            "try-it-1",
            "mine",
            "see-step-2-first",
        ];
        assert_eq!(
            ids,
            expected
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn apply_catches_a_stale_diff() {
        let diff = "--- a/old\n+++ b/new\n@@ -1,3 +1,3 @@\n one\n-two\n+deux\n three\n";
        let old = ["one", "two", "three", "four"];
        assert_eq!(
            apply(diff, &old, "a/old", "b/new").unwrap(),
            ["one", "deux", "three", "four"]
        );
        let changed = ["one", "2", "three", "four"];
        let err = apply(diff, &changed, "a/old", "b/new").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = apply(diff, &old, "a/older", "b/new").unwrap_err();
        assert!(err.contains("header"), "{err}");
    }
}
