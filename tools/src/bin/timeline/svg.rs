//! Drawing a timeline as SVG: one lane for the process, one per client,
//! time running left to right.
//!
//! The picture is self-contained on purpose: a generic font family, no
//! scripts, no external references, a white background of its own. It
//! renders the same in a browser, in mdBook's dark themes, and offline.
//!
//! It is drawn at the width of an mdBook page (750 px), so that it is shown
//! at its own size and no text comes out smaller than 12 px.

use std::{fmt::Write as _, time::Instant};

use crate::{Ending, Lane, ProcessStory, Span};

const WIDTH: f64 = 750.0;
const PLOT_LEFT: f64 = 132.0;
const PLOT_RIGHT: f64 = 736.0;
const LANES_TOP: f64 = 92.0;
const LANE_HEIGHT: f64 = 40.0;
/// The log lane holds one line of text per log line of a moment.
const LOG_LINE: f64 = 15.0;
/// Time shown: the scenario's signal comes at about 0.5 s and a step that
/// does not stop by itself is killed 3 s later.
const AXIS_SECONDS: f64 = 4.0;
/// Rough width of one character at 13px in a sans-serif font: enough to
/// decide whether a label fits beside a bar or must go inside it.
const CHAR_WIDTH: f64 = 7.2;

const SERVING: &str = "#5b8def";
const STARTING: &str = "#cfd8dc";
const DRAINING: &str = "#f0a030";
const DELAYING: &str = "#f4d35e";
const ANSWERED: &str = "#3a9d5d";
const CUT: &str = "#d64541";
const IDLE: &str = "#a9c1e0";
const SIGNAL: &str = "#c0392b";
const MUTED: &str = "#6b7280";

/// The whole picture, as the text of an `.svg` file.
pub fn draw(
    step: &str,
    number: u32,
    shutdown_timeout: &str,
    story: &ProcessStory,
    spans: &[Span],
) -> String {
    let lanes = Lane::of_step(number);
    let seconds = |at: Instant| at.saturating_duration_since(story.spawned).as_secs_f64();
    let last = spans
        .iter()
        .map(|span| seconds(span.end))
        .fold(seconds(story.exit_at), f64::max);
    // The same scale for every step, so that pictures side by side compare;
    // rounded up to a half second if a run ever goes past it.
    let axis_end = (((last + 0.3) * 2.0).ceil() / 2.0).max(AXIS_SECONDS);
    let x = |at: Instant| PLOT_LEFT + seconds(at) / axis_end * (PLOT_RIGHT - PLOT_LEFT);
    let moments = place_log(log_moments(story), &x);
    let log_height = moments
        .iter()
        .map(|moment| moment.row + moment.lines.len())
        .max()
        .unwrap_or(1) as f64
        * LOG_LINE
        + 14.0;
    let lane_height = |lane: Lane| {
        if lane == Lane::Log {
            log_height.max(LANE_HEIGHT)
        } else {
            LANE_HEIGHT
        }
    };
    let lane_top = |lane: Lane| {
        LANES_TOP
            + lanes
                .iter()
                .take_while(|l| **l != lane)
                .map(|l| lane_height(*l))
                .sum::<f64>()
    };
    let lanes_bottom = LANES_TOP + lanes.iter().map(|l| lane_height(*l)).sum::<f64>();
    let height = lanes_bottom + 96.0;

    let first_signal = story.signals.first().map(|(at, _)| *at);
    let delay = match story.delay {
        Some(delay) => format!(", SHUTDOWN_DELAY={:.0}s", delay.as_secs_f64()),
        None => String::new(),
    };
    let heading = match first_signal {
        Some(at) => format!(
            "{step}: {} {:.0} ms after SIGTERM",
            story.exit_label,
            story.exit_at.saturating_duration_since(at).as_secs_f64() * 1000.0
        ),
        None => format!("{step}: {}", story.exit_label),
    };
    let settings = match first_signal {
        Some(at) => format!(
            "SIGTERM at {:.2} s, SHUTDOWN_TIMEOUT={shutdown_timeout}{delay}; time from the process start",
            seconds(at)
        ),
        None => format!("SHUTDOWN_TIMEOUT={shutdown_timeout}{delay}; time from the process start"),
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13" role="img" aria-labelledby="title desc">"#
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
        r##"<text x="12" y="24" font-size="16" font-weight="bold" fill="#111827">{}</text>"##,
        escape(&heading)
    );
    let _ = writeln!(
        svg,
        r##"<text x="12" y="44" fill="{MUTED}">{}</text>"##,
        escape(&settings)
    );
    let _ = writeln!(
        svg,
        r##"<text x="12" y="62" font-size="12" fill="{MUTED}">one run of `cargo run --release -p tools --bin timeline -- {step}`</text>"##
    );

    // Lanes, with their names on the left.
    for (index, lane) in lanes.iter().copied().enumerate() {
        let top = lane_top(lane);
        let fill = if index % 2 == 0 { "#f5f6f8" } else { "#ffffff" };
        let _ = writeln!(
            svg,
            r#"<rect x="0" y="{top}" width="{WIDTH}" height="{}" fill="{fill}"/>"#,
            lane_height(lane)
        );
        let _ = writeln!(
            svg,
            r##"<text x="12" y="{}" fill="#111827">{}</text>"##,
            top + 18.0,
            lane.label()
        );
        let detail = match lane {
            Lane::Process | Lane::Log => "",
            Lane::ReadyProbe => "GET /ready",
            Lane::Events => "GET /events",
            Lane::Visits => "POST, 3 × visit",
            Lane::IdleKeepAlive => "GET /health, idle",
            Lane::Fast => "GET /health",
            Lane::Slow => "/slow?ms=1000",
            Lane::Stuck => "/slow?ms=60000",
            Lane::NewConnection => "GET /health",
        };
        let _ = writeln!(
            svg,
            r#"<text x="12" y="{}" font-size="12" fill="{MUTED}">{}</text>"#,
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
    draw_log(&mut svg, &moments, lane_top(Lane::Log));
    if lanes.contains(&Lane::ReadyProbe) {
        draw_probes(&mut svg, story, &x, lane_top(Lane::ReadyProbe));
    }
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
        // Centred on its line, unless that would run off the picture.
        let half = name.len() as f64 * CHAR_WIDTH / 2.0;
        let anchor = if sx + half > WIDTH - 4.0 {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            svg,
            r#"<text x="{sx:.1}" y="{}" text-anchor="{anchor}" font-weight="bold" fill="{SIGNAL}">{}</text>"#,
            LANES_TOP - 16.0,
            escape(name)
        );
    }

    draw_legend(&mut svg, lanes_bottom + 46.0, story.delay.is_some());
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
        // Step 6: serving on, not ready, until `shutting down`.
        let drain_from = match story.delay {
            Some(_) => story
                .marks
                .iter()
                .find(|(_, line)| line.starts_with("shutting down"))
                .map_or(signal, |(at, _)| *at),
            None => signal,
        };
        if drain_from > signal {
            bar(
                svg,
                signal,
                drain_from,
                DELAYING,
                "not ready, still serving",
            );
        }
        bar(svg, drain_from, story.exit_at, DRAINING, "shutting down");
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
}

/// The step's shutdown log lines, grouped by the moment they came: lines
/// less than 150 ms apart are one moment, written one under the other.
fn log_moments(story: &ProcessStory) -> Vec<(Instant, Vec<String>)> {
    let mut moments: Vec<(Instant, Instant, Vec<String>)> = Vec::new();
    for (at, line) in &story.marks {
        if line.starts_with("server starting") {
            continue;
        }
        match moments.last_mut() {
            Some((_, last, lines)) if at.saturating_duration_since(*last).as_millis() < 150 => {
                *last = *at;
                lines.push(line.clone());
            }
            _ => moments.push((*at, *at, vec![line.clone()])),
        }
    }
    moments
        .into_iter()
        .map(|(first, _, lines)| (first, lines))
        .collect()
}

/// A moment of the log lane, placed: where its mark is, where its text
/// goes, and the row its first line takes.
struct Placed {
    mark: f64,
    text_x: f64,
    anchor: &'static str,
    left: f64,
    right: f64,
    row: usize,
    lines: Vec<String>,
}

/// Places each moment's text beside its mark, right of it if it fits, and
/// below any earlier moment's text it would overlap.
fn place_log(moments: Vec<(Instant, Vec<String>)>, x: &impl Fn(Instant) -> f64) -> Vec<Placed> {
    let mut placed: Vec<Placed> = Vec::new();
    for (at, lines) in moments {
        let mark = x(at);
        let widest = lines.iter().map(|line| line.len()).max().unwrap_or(0) as f64 * CHAR_WIDTH;
        let (text_x, anchor, left, right) = if mark + 6.0 + widest <= WIDTH - 4.0 {
            (mark + 6.0, "start", mark, mark + 6.0 + widest)
        } else if mark - 6.0 - widest >= 4.0 {
            (mark - 6.0, "end", mark - 6.0 - widest, mark)
        } else {
            // Fits neither side: as far right as the picture allows.
            let start = (WIDTH - 4.0 - widest).max(4.0);
            (start, "start", start, start + widest)
        };
        let row = placed
            .iter()
            .filter(|other| other.left < right + 8.0 && left < other.right + 8.0)
            .map(|other| other.row + other.lines.len())
            .max()
            .unwrap_or(0);
        placed.push(Placed {
            mark,
            text_x,
            anchor,
            left,
            right,
            row,
            lines,
        });
    }
    placed
}

fn draw_log(svg: &mut String, moments: &[Placed], top: f64) {
    if moments.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{PLOT_LEFT}" y="{}" fill="{MUTED}">nothing after `server starting`</text>"#,
            top + 17.0
        );
    }
    for moment in moments {
        let first = top + moment.row as f64 * LOG_LINE;
        let mx = moment.mark;
        let _ = writeln!(
            svg,
            r##"<line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{:.1}" stroke="#111827" stroke-width="1.5"/>"##,
            first + 6.0,
            first + 8.0 + moment.lines.len() as f64 * LOG_LINE
        );
        for (index, line) in moment.lines.iter().enumerate() {
            let weight =
                if line.starts_with("forced shutdown") || line.starts_with("shutdown timed out") {
                    r#" font-weight="bold""#
                } else {
                    ""
                };
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="{}" font-family="monospace" font-size="12"{weight} fill="#111827">{}</text>"##,
                moment.text_x,
                first + 17.0 + index as f64 * LOG_LINE,
                moment.anchor,
                escape(line)
            );
        }
    }
}

/// Step 6: each answer of the ready probe as a tick, green for 200, amber
/// for 503; the status is written where it changes.
fn draw_probes(svg: &mut String, story: &ProcessStory, x: &impl Fn(Instant) -> f64, top: f64) {
    let middle = top + 20.0;
    let mut last: Option<Option<u16>> = None;
    let mut last_label_end = 0.0;
    for probe in &story.probes {
        let px = x(probe.at);
        let fill = match probe.status {
            Some(200) => ANSWERED,
            Some(_) => DRAINING,
            None => MUTED,
        };
        if probe.status.is_some() {
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="4" height="16" fill="{fill}"/>"#,
                px - 2.0,
                middle - 8.0
            );
        }
        if last != Some(probe.status) && px > last_label_end {
            let said = match probe.status {
                Some(status) => status.to_string(),
                None => "refused".to_owned(),
            };
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" fill="#111827">{said}</text>"##,
                px + 5.0,
                middle - 10.0
            );
            last_label_end = px + 5.0 + said.len() as f64 * CHAR_WIDTH;
        }
        last = Some(probe.status);
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

fn draw_legend(svg: &mut String, y: f64, delay: bool) {
    let mut entries = vec![(SERVING, "serving")];
    if delay {
        entries.push((DELAYING, "not ready, serving"));
    }
    entries.extend([
        (DRAINING, "shutting down"),
        (ANSWERED, "answered"),
        (CUT, "ended, no answer"),
        (IDLE, "idle keep-alive"),
    ]);
    let mut lx = 12.0;
    let mut y = y;
    for (fill, what) in entries {
        // A second row when the first is full.
        if lx + 30.0 + what.len() as f64 * CHAR_WIDTH > WIDTH {
            lx = 12.0;
            y += 22.0;
        }
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
    if lx + 40.0 + 18.0 * CHAR_WIDTH > WIDTH {
        lx = 12.0;
        y += 22.0;
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
    for (at, line) in &story.marks {
        let _ = write!(text, "Log at {:.3} s: {line}. ", seconds(*at));
    }
    let mut last = None;
    for probe in &story.probes {
        if last != Some(probe.status) {
            let said = probe
                .status
                .map_or("no answer".to_owned(), |status| status.to_string());
            let _ = write!(
                text,
                "Ready probe from {:.3} s: {said}. ",
                seconds(probe.at)
            );
        }
        last = Some(probe.status);
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
