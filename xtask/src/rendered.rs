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
//!   and a link's `#fragment` to an element with that id.

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
    fn dead_links_and_images_are_found() {
        let html = "<main><h1 id=\"t\">T</h1><a href=\"#nowhere\">a</a>\
                    <a href=\"ch98-gone.html\">b</a><img src=\"figures/gone.svg\">\
                    <a href=\"https://example.com/\">c</a></main>";
        let problems = problems_of("# T\n", html);
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
