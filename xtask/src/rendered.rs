//! The book as a reader gets it: built with mdBook, read back with an HTML
//! parser.
//!
//! The source checks in [`crate::book`] cannot see what Markdown makes of
//! an include. A listing included without a fence, or included inside a
//! list item without the item's indentation, renders as paragraphs, and
//! the fence that should have closed it opens a code block that swallows
//! the rest of the page: headings, prose and all. mdBook builds that
//! without a word. So for each chapter's page:
//!
//! - no literal ```` ``` ```` outside a code element: a fence that did not
//!   become a code block;
//! - every `##` and `###` heading of the chapter's source is a heading
//!   element with an `id` (what the table of contents and links point at);
//! - every image and every local link leads to a file of the built book,
//!   and a link's `#fragment` to an element with that id;
//! - no line of a code block wider than the page shows without scrolling
//!   (see [`width_limit`] for the rule);
//! - no "chapter 3" in the text: chapters are renamed and renumbered, so a
//!   cross-reference names its target by title, as a link;
//! - no `{{#include …}}` left as text: an include mdBook could not
//!   resolve stays in the page as written, after a warning that is easy to
//!   miss in a long build log.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use scraper::{ElementRef, Html, Node, Selector};

use crate::book::{Chapter, chapters, lines_outside_code_blocks};

/// Builds the book into a temporary directory and checks every chapter's
/// page.
pub fn rendered_pages_are_whole() -> Vec<String> {
    let out = match tempfile::tempdir() {
        Ok(out) => out,
        Err(err) => return vec![format!("a temporary directory: {err}")],
    };
    let built = Command::new("mdbook")
        .args(["build", "book", "--dest-dir"])
        .arg(out.path())
        .output();
    let built = match built {
        Ok(built) => built,
        Err(err) => {
            return vec![format!(
                "cannot run mdbook ({err}); install it with \
                 `cargo install mdbook --locked --version 0.5.4`"
            )];
        }
    };
    let log = String::from_utf8_lossy(&built.stderr);
    if !built.status.success() {
        return vec![format!("mdbook build failed:\n{log}")];
    }
    let mut problems: Vec<String> = log
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .map(|line| format!("mdbook: {}", line.trim()))
        .collect();
    for chapter in chapters() {
        if chapter.name == "SUMMARY.md" {
            continue;
        }
        let page = out.path().join(chapter.name.replace(".md", ".html"));
        match fs::read_to_string(&page) {
            Ok(html) => problems.extend(page_problems(&chapter, &page, &html, out.path())),
            Err(err) => problems.push(format!(
                "{}: no page {}: {err}",
                chapter.name,
                page.display()
            )),
        }
    }
    problems
}

/// What is wrong with one chapter's page.
fn page_problems(chapter: &Chapter, page: &Path, html: &str, book: &Path) -> Vec<String> {
    let document = Html::parse_document(html);
    let main = select(&document, "main");
    let Some(main) = main.first() else {
        return vec![format!("{}: the page has no <main>", chapter.name)];
    };
    let mut problems = Vec::new();
    for text in stray_fences(*main) {
        problems.push(format!(
            "{}: a code fence rendered as text, near {text:?}: an include or a \
             listing that Markdown did not read as a code block",
            chapter.name
        ));
    }
    let rendered: BTreeSet<String> = main
        .select(&selector("h2[id], h3[id]"))
        .map(|heading| comparable(&heading.text().collect::<String>()))
        .collect();
    for heading in source_headings(&chapter.text) {
        if !rendered.contains(&comparable(&heading)) {
            problems.push(format!(
                "{}: the heading {heading:?} is not a heading of the rendered page \
                 (swallowed by a code block?)",
                chapter.name
            ));
        }
    }
    problems.extend(wide_lines(chapter, *main));
    problems.extend(wide_blocks_hold_figures(chapter));
    for text in chapter_numbers(*main) {
        problems.push(format!(
            "{}: {text:?}: a cross-reference by chapter number; name the chapter by its \
             title, as a link",
            chapter.name
        ));
    }
    for text in unresolved_includes(chapter, *main) {
        problems.push(format!(
            "{}: {text:?} is on the page as text: an include mdBook did not resolve",
            chapter.name
        ));
    }
    for target in local_targets(*main) {
        if let Some(why) = dead_target(&target, page, &document, book) {
            problems.push(format!("{}: {target}: {why}", chapter.name));
        }
    }
    problems
}

fn selector(text: &str) -> Selector {
    Selector::parse(text).expect("a valid CSS selector")
}

fn select<'a>(document: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    document.select(&selector(css)).collect()
}

/// Text outside `<code>` (and `<pre>`) that holds a code fence.
fn stray_fences(main: ElementRef<'_>) -> Vec<String> {
    main.descendants()
        .filter_map(|node| match node.value() {
            Node::Text(text) if text.contains("```") => Some((node, text.to_string())),
            _ => None,
        })
        .filter(|(node, _)| {
            !node.ancestors().any(|ancestor| {
                ancestor
                    .value()
                    .as_element()
                    .is_some_and(|element| matches!(element.name(), "code" | "pre"))
            })
        })
        .map(|(_, text)| text.trim().chars().take(60).collect())
        .collect()
}

// ANCHOR: width_limit
/// The widest line a code block may have, by the block's language.
///
/// Source code (Rust, Go, YAML, TOML, a Dockerfile…) is included from
/// files that rustfmt and the other formatters keep to 100 columns; a diff
/// adds one column of `+`, `-` or space. Everything else (`console`,
/// `text`, no language) is a terminal session or a tool's output, written
/// for the page: 86 columns, what a code block of mdBook's default theme
/// shows without scrolling in a window 1280 px wide (measured in headless
/// Chromium: 750 px of block, 8.4 px a character, 20 px of padding). A
/// table of measured figures whose columns would not survive wrapping may
/// be marked `wide` (```` ```text,wide ````); it must then be one include
/// of a file from `figures/`, written by a script, and may take 240
/// columns.
fn width_limit(classes: &[&str]) -> usize {
    let language = classes
        .iter()
        .find_map(|class| class.strip_prefix("language-"))
        .unwrap_or("");
    match language {
        "diff" => 101,
        "console" | "text" | "shell" | "sh" | "bash" | "" if classes.contains(&"wide") => 240,
        "console" | "text" | "shell" | "sh" | "bash" | "" => 86,
        _ => 100,
    }
}
// ANCHOR_END: width_limit

/// Columns a line takes in a terminal: characters, a tab to the next stop
/// of 8, trailing spaces not counted.
fn columns(line: &str) -> usize {
    line.trim_end().chars().fold(0, |width, c| {
        if c == '\t' {
            width / 8 * 8 + 8
        } else {
            width + 1
        }
    })
}

/// Lines of `<pre><code>` blocks wider than [`width_limit`] allows.
fn wide_lines(chapter: &Chapter, main: ElementRef<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    for code in main.select(&selector("pre > code")) {
        let classes: Vec<&str> = code.value().classes().collect();
        let limit = width_limit(&classes);
        let text: String = code.text().collect();
        for line in text.lines() {
            let width = columns(line);
            if width > limit {
                let start: String = line.trim().chars().take(50).collect();
                problems.push(format!(
                    "{}: a line of {width} columns in a `{}` block (at most {limit}): \
                     {start:?}…",
                    chapter.name,
                    classes.join(" ")
                ));
            }
        }
    }
    problems
}

/// A fence marked `wide` must hold one include of a measured figure and
/// nothing else, so that the mark cannot excuse hand-written lines.
fn wide_blocks_hold_figures(chapter: &Chapter) -> Vec<String> {
    let mut problems = Vec::new();
    let mut wide: Option<(usize, Vec<String>)> = None;
    for (index, line) in chapter.text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some((start, body)) = &mut wide {
            if trimmed.starts_with("```") {
                let one_figure = matches!(body.as_slice(), [only]
                    if only.starts_with("{{#include figures/") && only.ends_with("}}"));
                if !one_figure {
                    problems.push(format!(
                        "{}:{start}: a `wide` block must be one `{{{{#include figures/…}}}}` \
                         and nothing else",
                        chapter.name
                    ));
                }
                wide = None;
            } else {
                body.push(trimmed.to_owned());
            }
        } else if let Some(info) = trimmed.strip_prefix("```")
            && info.split(',').any(|word| word.trim() == "wide")
        {
            wide = Some((index + 1, Vec::new()));
        }
    }
    problems
}

/// Text outside code that refers to a chapter by number: "chapter 3",
/// "Chapters 2".
fn chapter_numbers(main: ElementRef<'_>) -> Vec<String> {
    let mut found = Vec::new();
    for text in prose_texts(main) {
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.windows(2) {
            let word = pair[0].trim_start_matches(|c: char| !c.is_alphanumeric());
            let number = pair[1].trim_end_matches(|c: char| !c.is_alphanumeric());
            if matches!(word.to_lowercase().as_str(), "chapter" | "chapters")
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
            {
                found.push(format!("{word} {number}"));
            }
        }
    }
    found
}

/// The text of the page outside `<code>` and `<pre>`, one string per text
/// node.
fn prose_texts(main: ElementRef<'_>) -> Vec<String> {
    main.descendants()
        .filter_map(|node| match node.value() {
            Node::Text(text) => Some((node, text.to_string())),
            _ => None,
        })
        .filter(|(node, _)| {
            !node.ancestors().any(|ancestor| {
                ancestor
                    .value()
                    .as_element()
                    .is_some_and(|element| matches!(element.name(), "code" | "pre"))
            })
        })
        .map(|(_, text)| text)
        .collect()
}

/// `{{#include …}}` and `{{#rustdoc_include …}}` left on the page, in
/// prose or in code, except those the chapter escapes (`\{{#include …}}`)
/// to show the syntax.
fn unresolved_includes(chapter: &Chapter, main: ElementRef<'_>) -> Vec<String> {
    let text: String = main.text().collect();
    let mut found = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("{{#") {
        let after = &rest[at..];
        let end = after.find("}}").map_or(after.len(), |end| end + 2);
        let directive = &after[..end];
        let is_include =
            directive.starts_with("{{#include") || directive.starts_with("{{#rustdoc_include");
        if is_include && !chapter.text.contains(&format!("\\{directive}")) {
            found.push(directive.chars().take(80).collect());
        }
        rest = &after[end.min(after.len()).max(3)..];
    }
    found
}

/// The `##` and `###` headings of a chapter's Markdown, outside code blocks.
fn source_headings(text: &str) -> Vec<String> {
    let mut headings = Vec::new();
    lines_outside_code_blocks(text, |_, line| {
        for marker in ["## ", "### "] {
            if let Some(title) = line.strip_prefix(marker) {
                headings.push(title.trim().to_owned());
            }
        }
    });
    headings
}

/// A heading's words, for comparing Markdown with HTML: a link's target
/// dropped, then only letters and digits, lower-cased. `What `serve` does`
/// and `What serve does` are the same heading.
fn comparable(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(at) = rest.find("](") {
        text.push_str(&rest[..at]);
        rest = rest[at..].find(')').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every image source and link target on the page that is not on another
/// site.
fn local_targets(main: ElementRef<'_>) -> Vec<String> {
    let (links, images) = (selector("a[href]"), selector("img[src]"));
    let hrefs = main.select(&links).filter_map(|a| a.value().attr("href"));
    let sources = main
        .select(&images)
        .filter_map(|img| img.value().attr("src"));
    hrefs
        .chain(sources)
        .filter(|target| !target.contains("://") && !target.starts_with("mailto:"))
        .map(str::to_owned)
        .collect()
}

/// Why `target`, on `page`, leads nowhere; `None` if it leads somewhere.
fn dead_target(target: &str, page: &Path, document: &Html, book: &Path) -> Option<String> {
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (target, None),
    };
    let file = file.split('?').next().unwrap_or_default();
    let path: PathBuf = if file.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap_or(book).join(file)
    };
    if !path.is_file() {
        return Some("no such file in the built book".to_owned());
    }
    let fragment = fragment.filter(|fragment| !fragment.is_empty())?;
    let has_id = |document: &Html| {
        document
            .select(&selector("[id]"))
            .any(|element| element.value().id() == Some(fragment))
    };
    let found = if file.is_empty() {
        has_id(document)
    } else {
        let text = fs::read_to_string(&path).unwrap_or_default();
        has_id(&Html::parse_document(&text))
    };
    (!found).then(|| format!("no element with id `{fragment}` there"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chapter(text: &str) -> Chapter {
        Chapter {
            name: "ch99-test.md".to_owned(),
            path: PathBuf::from("book/src/ch99-test.md"),
            text: text.to_owned(),
        }
    }

    fn problems_of(markdown: &str, html: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("ch99-test.html");
        fs::write(&page, html).unwrap();
        page_problems(&chapter(markdown), &page, html, dir.path())
    }

    /// What the swallowed page looks like: the listing's lines as
    /// paragraphs, then a code block that holds the next heading.
    #[test]
    fn a_swallowed_heading_and_a_stray_fence_are_found() {
        let markdown = "# T\n\n- item\n\n  ```rust\n  {{#include x.rs}}\n  ```\n\n## Next\n";
        let html = "<main><h1 id=\"t\">T</h1><ul><li>item<pre><code>fn a() {}</code></pre></li></ul>\
                    <p>fn b() {}</p><p>```</p><pre><code>## Next\n</code></pre></main>";
        let problems = problems_of(markdown, html);
        assert!(problems.iter().any(|p| p.contains("fence")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("\"Next\"")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_whole_page_passes() {
        let markdown = "# T\n\n## What `serve` does\n\n```text\n## not a heading\n```\n";
        let html = "<main><h1 id=\"t\">T</h1><h2 id=\"what-serve-does\">What <code>serve</code> does</h2>\
                    <pre><code>```\n## not a heading</code></pre><a href=\"#t\">up</a></main>";
        assert_eq!(problems_of(markdown, html), Vec::<String>::new());
    }

    #[test]
    fn wide_lines_are_found_by_language() {
        let long = "x".repeat(95);
        let html = format!(
            "<main><h1 id=\"t\">T</h1>\
             <pre><code class=\"language-console\">$ {long}</code></pre>\
             <pre><code class=\"language-rust\">{long}</code></pre>\
             <pre><code>{long}</code></pre></main>"
        );
        let problems = problems_of("# T\n", &html);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.contains("97 columns") || p.contains("95 columns"))
        );
        let too_long_for_rust = format!(
            "<main><h1 id=\"t\">T</h1><pre><code class=\"language-rust\">{}</code></pre></main>",
            "x".repeat(101)
        );
        assert_eq!(problems_of("# T\n", &too_long_for_rust).len(), 1);
    }

    #[test]
    fn a_wide_block_must_be_one_figure() {
        let html = format!(
            "<main><h1 id=\"t\">T</h1>\
             <pre><code class=\"language-text wide\">{}</code></pre></main>",
            "x".repeat(150)
        );
        let figure = "# T\n\n```text,wide\n{{#include figures/bound.txt}}\n```\n";
        assert_eq!(problems_of(figure, &html), Vec::<String>::new());
        let by_hand = "# T\n\n```text,wide\na very long line\n```\n";
        let problems = problems_of(by_hand, &html);
        assert!(
            problems.iter().any(|p| p.contains("`wide`")),
            "{problems:?}"
        );
    }

    #[test]
    fn chapter_numbers_are_found_in_prose_only() {
        let html = "<main><h1 id=\"t\">T</h1><p>As chapter 3 says, and (Chapter 10).</p>\
                    <p>The chapter on tests.</p><pre><code>chapter 4</code></pre></main>";
        let problems = problems_of("# T\n", html);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"chapter 3\""), "{problems:?}");
        assert!(problems[1].contains("\"Chapter 10\""), "{problems:?}");
    }

    #[test]
    fn unresolved_includes_are_found_unless_escaped() {
        let html = "<main><h1 id=\"t\">T</h1><p>{{#include ../../src/gone.rs:main}}</p>\
                    <pre><code>{{#include ../../src/gone.rs}}</code></pre>\
                    <p>Write {{#include file.rs:anchor}} to include.</p></main>";
        let markdown = "# T\n\nWrite \\{{#include file.rs:anchor}} to include.\n";
        let problems = problems_of(markdown, html);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().all(|p| p.contains("gone.rs")),
            "{problems:?}"
        );
    }

    #[test]
    fn dead_links_and_images_are_found() {
        let html = "<main><h1 id=\"t\">T</h1><a href=\"#nowhere\">a</a>\
                    <a href=\"ch98-gone.html\">b</a><img src=\"figures/gone.svg\">\
                    <a href=\"https://example.com/\">c</a></main>";
        let problems = problems_of("# T\n", html);
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
