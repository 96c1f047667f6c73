//! Drawing a timeline as SVG: one lane for the process, one per client,
//! time running left to right.
//!
//! The picture is self-contained on purpose: a generic font family, no
//! scripts, no external references, a white background of its own. It
//! renders the same in a browser, in mdBook's dark themes, and offline.

use std::{fmt::Write as _, time::Instant};

use crate::{Ending, Lane, ProcessStory, Span};

const WIDTH: f64 = 960.0;
const PLOT_LEFT: f64 = 160.0;
const PLOT_RIGHT: f64 = 940.0;
const LANES_TOP: f64 = 84.0;
const LANE_HEIGHT: f64 = 42.0;
/// Time shown: the scenario's signal comes at about 0.5 s and a step that
/// does not stop by itself is killed 3 s later.
const AXIS_SECONDS: f64 = 4.0;
/// Rough width of one character at 12px in a sans-serif font: enough to
/// decide whether a label fits beside a bar or must go inside it.
const CHAR_WIDTH: f64 = 6.6;

const SERVING: &str = "#5b8def";
const STARTING: &str = "#cfd8dc";
const DRAINING: &str = "#f0a030";
const ANSWERED: &str = "#3a9d5d";
const CUT: &str = "#d64541";
const IDLE: &str = "#a9c1e0";
const SIGNAL: &str = "#c0392b";
const MUTED: &str = "#6b7280";

/// The whole picture, as the text of an `.svg` file.
pub fn draw(step: &str, shutdown_timeout: &str, story: &ProcessStory, spans: &[Span]) -> String {
    let seconds = |at: Instant| at.saturating_duration_since(story.spawned).as_secs_f64();
    let last = spans
        .iter()
        .map(|span| seconds(span.end))
        .fold(seconds(story.exit_at), f64::max);
    // The same scale for every step, so that pictures side by side compare;
    // rounded up to a half second if a run ever goes past it.
    let axis_end = (((last + 0.3) * 2.0).ceil() / 2.0).max(AXIS_SECONDS);
    let x = |at: Instant| PLOT_LEFT + seconds(at) / axis_end * (PLOT_RIGHT - PLOT_LEFT);
    let lane_top = |lane: Lane| {
        let index = Lane::ALL.iter().position(|l| *l == lane).unwrap_or(0);
        LANES_TOP + index as f64 * LANE_HEIGHT
    };
    let lanes_bottom = LANES_TOP + Lane::ALL.len() as f64 * LANE_HEIGHT;
    let height = lanes_bottom + 80.0;

    let first_signal = story.signals.first().map(|(at, _)| *at);
    let heading = match first_signal {
        Some(at) => format!(
            "{step}: SIGTERM at {:.2} s, SHUTDOWN_TIMEOUT={shutdown_timeout}; {} {:.0} ms after the signal",
            seconds(at),
            story.exit_label,
            story.exit_at.saturating_duration_since(at).as_secs_f64() * 1000.0
        ),
        None => format!("{step}: {}", story.exit_label),
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="title desc">"#
    );
    let _ = writeln!(svg, r#"<title id="title">{}</title>"#, escape(&heading));
    let _ = writeln!(
        svg,
        r#"<desc id="desc">{}</desc>"#,
        escape(&describe(story, spans, &seconds))
    );
    let _ = writeln!(
        svg,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<text x="12" y="26" font-size="15" font-weight="bold" fill="#111827">{}</text>"##,
        escape(&heading)
    );
    let _ = writeln!(
        svg,
        r##"<text x="12" y="46" fill="{MUTED}">one run of `cargo run --release -p tools --bin timeline -- {step}`; time from the process start</text>"##
    );

    // Lanes, with their names on the left.
    for (index, lane) in Lane::ALL.into_iter().enumerate() {
        let top = lane_top(lane);
        let fill = if index % 2 == 0 { "#f5f6f8" } else { "#ffffff" };
        let _ = writeln!(
            svg,
            r#"<rect x="0" y="{top}" width="{WIDTH}" height="{LANE_HEIGHT}" fill="{fill}"/>"#
        );
        let _ = writeln!(
            svg,
            r##"<text x="12" y="{}" fill="#111827">{}</text>"##,
            top + 18.0,
            lane.label()
        );
        let detail = match lane {
            Lane::Process => "",
            Lane::IdleKeepAlive => "GET /health, then idle",
            Lane::Fast => "GET /health",
            Lane::Slow => "GET /slow?ms=1000",
            Lane::Stuck => "GET /slow?ms=60000",
            Lane::NewConnection => "GET /health after the signal",
        };
        let _ = writeln!(
            svg,
            r#"<text x="12" y="{}" font-size="10" fill="{MUTED}">{}</text>"#,
            top + 32.0,
            escape(detail)
        );
    }

    // A grid line and a tick label every half second.
    let mut tick = 0.0;
    while tick <= axis_end + 1e-9 {
        let tx = PLOT_LEFT + tick / axis_end * (PLOT_RIGHT - PLOT_LEFT);
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{LANES_TOP}" x2="{tx:.1}" y2="{lanes_bottom}" stroke="#e5e7eb"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{tx:.1}" y="{}" text-anchor="middle" fill="{MUTED}">{tick:.1} s</text>"#,
            lanes_bottom + 16.0
        );
        tick += 0.5;
    }

    draw_process(&mut svg, story, &x, lane_top(Lane::Process));
    for span in spans {
        draw_span(&mut svg, span, &x, lane_top(span.lane));
    }

    // The signals, across every lane: everything else is read against them.
    for (index, (at, name)) in story.signals.iter().enumerate() {
        let sx = x(*at);
        let dash = if index == 0 {
            ""
        } else {
            r#" stroke-dasharray="5 3""#
        };
        let _ = writeln!(
            svg,
            r#"<line x1="{sx:.1}" y1="{}" x2="{sx:.1}" y2="{lanes_bottom}" stroke="{SIGNAL}" stroke-width="1.5"{dash}/>"#,
            LANES_TOP - 12.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{sx:.1}" y="{}" text-anchor="middle" font-weight="bold" fill="{SIGNAL}">{}</text>"#,
            LANES_TOP - 16.0,
            escape(name)
        );
    }

    draw_legend(&mut svg, lanes_bottom + 48.0);
    svg.push_str("</svg>\n");
    svg
}

fn draw_process(svg: &mut String, story: &ProcessStory, x: &impl Fn(Instant) -> f64, top: f64) {
    let bar_top = top + 11.0;
    let bar = |svg: &mut String, from: Instant, to: Instant, fill: &str, what: &str| {
        let (x1, x2) = (x(from), x(to).max(x(from) + 1.0));
        let _ = writeln!(
            svg,
            r#"<rect x="{x1:.1}" y="{bar_top}" width="{:.1}" height="16" fill="{fill}"><title>{what}</title></rect>"#,
            x2 - x1
        );
    };
    let signal = story.signals.first().map_or(story.exit_at, |(at, _)| *at);
    bar(svg, story.spawned, story.ready, STARTING, "starting");
    bar(
        svg,
        story.ready,
        signal.min(story.exit_at),
        SERVING,
        "serving",
    );
    if signal < story.exit_at {
        bar(svg, signal, story.exit_at, DRAINING, "shutting down");
    }
    let ex = x(story.exit_at);
    let _ = writeln!(
        svg,
        r##"<line x1="{ex:.1}" y1="{}" x2="{ex:.1}" y2="{}" stroke="#111827" stroke-width="2"/>"##,
        top + 6.0,
        top + 32.0
    );
    // Right of the exit if there is room, left of it otherwise.
    let label_width = story.exit_label.len() as f64 * CHAR_WIDTH * 1.1;
    let (lx, anchor) = if ex + 6.0 + label_width <= WIDTH - 4.0 {
        (ex + 6.0, "start")
    } else {
        (ex - 6.0, "end")
    };
    let _ = writeln!(
        svg,
        r##"<text x="{lx:.1}" y="{}" text-anchor="{anchor}" font-weight="bold" fill="#111827">{}</text>"##,
        bar_top + 12.0,
        escape(&story.exit_label)
    );
    // The step's own log lines, as dots under the bar; the two that change
    // the ending get a word as well.
    for (at, phrase) in &story.marks {
        let mx = x(*at);
        let _ = writeln!(
            svg,
            r##"<circle cx="{mx:.1}" cy="{}" r="3" fill="#111827"><title>log: {}</title></circle>"##,
            bar_top + 20.0,
            escape(phrase)
        );
        if phrase == "shutdown timed out" || phrase == "forced shutdown" {
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="end" fill="#111827">{}</text>"##,
                mx - 5.0,
                bar_top + 24.0,
                escape(phrase)
            );
        }
    }
}

fn draw_span(svg: &mut String, span: &Span, x: &impl Fn(Instant) -> f64, top: f64) {
    let (x1, x2) = (x(span.start), x(span.end).max(x(span.start) + 2.0));
    let middle = top + 19.0;
    let label_width = span.label.len() as f64 * CHAR_WIDTH;
    match span.ending {
        Ending::Refused => {
            let _ = writeln!(
                svg,
                r#"<path d="M{:.1} {:.1} l10 10 m0 -10 l-10 10" stroke="{MUTED}" stroke-width="2.5"/>"#,
                x2 - 5.0,
                middle - 5.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" fill="{MUTED}">{}</text>"#,
                x2 + 10.0,
                middle + 4.0,
                escape(&span.label)
            );
            return;
        }
        Ending::Closed => {
            // The idle connection: its one request, then a thin bar for the
            // time it sat open.
            let answered_at = span.first_answer.map_or(x1, |at| x(at).max(x1 + 2.0));
            let _ = writeln!(
                svg,
                r#"<rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="16" fill="{ANSWERED}"/>"#,
                middle - 8.0,
                answered_at - x1
            );
            let _ = writeln!(
                svg,
                r#"<rect x="{answered_at:.1}" y="{:.1}" width="{:.1}" height="8" fill="{IDLE}"/>"#,
                middle - 4.0,
                (x2 - answered_at).max(1.0)
            );
            let _ = writeln!(
                svg,
                r##"<line x1="{x2:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}" stroke="#111827" stroke-width="2"/>"##,
                middle - 8.0,
                middle + 8.0
            );
        }
        Ending::Answered | Ending::Cut => {
            let fill = if span.ending == Ending::Answered {
                ANSWERED
            } else {
                CUT
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="16" fill="{fill}"/>"#,
                middle - 8.0,
                x2 - x1
            );
        }
    }
    // Beside the bar if it fits in the picture, inside it otherwise.
    if x2 + 8.0 + label_width <= WIDTH - 4.0 {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" fill="#111827">{}</text>"##,
            x2 + 8.0,
            middle + 4.0,
            escape(&span.label)
        );
    } else {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#ffffff">{}</text>"##,
            x2 - 6.0,
            middle + 4.0,
            escape(&span.label)
        );
    }
}

fn draw_legend(svg: &mut String, y: f64) {
    let entries = [
        (SERVING, "serving"),
        (DRAINING, "shutting down"),
        (ANSWERED, "request answered"),
        (CUT, "connection ended, no answer"),
        (IDLE, "idle keep-alive connection"),
    ];
    let mut lx = 12.0;
    for (fill, what) in entries {
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{fill}"/>"#,
            y - 10.0
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{y:.1}" fill="#111827">{what}</text>"##,
            lx + 17.0
        );
        lx += 30.0 + what.len() as f64 * CHAR_WIDTH;
    }
    let _ = writeln!(
        svg,
        r#"<path d="M{lx:.1} {:.1} l10 10 m0 -10 l-10 10" stroke="{MUTED}" stroke-width="2.5"/>"#,
        y - 10.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{y:.1}" fill="#111827">connection refused</text>"##,
        lx + 16.0
    );
}

/// The picture in words, for screen readers and for anyone reading the
/// file itself.
fn describe(story: &ProcessStory, spans: &[Span], seconds: &impl Fn(Instant) -> f64) -> String {
    let mut text = String::new();
    for (at, name) in &story.signals {
        let _ = write!(text, "{name} at {:.3} s. ", seconds(*at));
    }
    for span in spans {
        let _ = write!(
            text,
            "{}: from {:.3} s to {:.3} s, {}. ",
            span.lane.label(),
            seconds(span.start),
            seconds(span.end),
            span.label
        );
    }
    let _ = write!(
        text,
        "Process {} at {:.3} s.",
        story.exit_label,
        seconds(story.exit_at)
    );
    text
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(escape(r#"a<b & "c">"#), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
