//! Charts as inline SVG, built in Rust: the lineage graph of a volume and
//! a line chart with shaded phases (the probe's p50/p99 over time).
//!
//! Every label goes through [`esc`]; colours are presentation attributes,
//! not `style`, so the pages' content security policy can forbid inline
//! style. Both builders are pure: data in, markup out.

use std::fmt::Write as _;

use populous_engine::{LineageStep, SnapshotInfo, HIDDEN};

use super::html::esc;

/// What a graph node stands for (its colour and border).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// The volume the page is about.
    Current,
    /// A volume or snapshot the reader may see.
    Plain,
    /// A snapshot that was destroyed (its clones live on).
    Gone,
    /// Something in a folder the reader may not see.
    Hidden,
}

/// One box of a graph, placed on a grid.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its label (shown shortened; whole in its `<title>`).
    pub label: String,
    /// Column (left to right) and row (top to bottom).
    pub col: usize,
    /// Row.
    pub row: usize,
    /// What it stands for.
    pub kind: NodeKind,
}

/// A graph of boxes and arrows between them (indices into `nodes`).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// The boxes.
    pub nodes: Vec<Node>,
    /// Arrows, from → to.
    pub edges: Vec<(usize, usize)>,
}

const NODE_W: usize = 210;
const NODE_H: usize = 36;
const COL_W: usize = 250;
const ROW_H: usize = 56;
const MAX_LABEL: usize = 30;

fn short(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        label.to_owned()
    } else {
        let head: String = label.chars().take(MAX_LABEL - 1).collect();
        format!("{head}…")
    }
}

impl Graph {
    fn add(&mut self, label: &str, col: usize, row: usize, kind: NodeKind) -> usize {
        self.nodes.push(Node {
            label: label.to_owned(),
            col,
            row,
            kind,
        });
        self.nodes.len() - 1
    }

    /// The graph as an `<svg>` element.
    pub fn svg(&self, title: &str) -> String {
        let cols = self.nodes.iter().map(|n| n.col + 1).max().unwrap_or(1);
        let rows = self.nodes.iter().map(|n| n.row + 1).max().unwrap_or(1);
        let (w, h) = (cols * COL_W + 20, rows * ROW_H + 20);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"lineage\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
             <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" \
             markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#555\"/></marker></defs>",
            t = esc(title)
        );
        let pos = |n: &Node| (10 + n.col * COL_W, 10 + n.row * ROW_H);
        for &(a, b) in &self.edges {
            let (Some(na), Some(nb)) = (self.nodes.get(a), self.nodes.get(b)) else {
                continue;
            };
            let (ax, ay) = pos(na);
            let (bx, by) = pos(nb);
            let (x1, y1) = (ax + NODE_W, ay + NODE_H / 2);
            let (x2, y2) = (bx, by + NODE_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                s,
                "<path class=\"edge\" d=\"M{x1} {y1}C{mid} {y1} {mid} {y2} {x2} {y2}\" fill=\"none\" \
                 stroke=\"#555\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>"
            );
        }
        for n in &self.nodes {
            let (x, y) = pos(n);
            let (fill, stroke, dash, text) = match n.kind {
                NodeKind::Current => ("#23395d", "#23395d", "", "#fff"),
                NodeKind::Plain => ("#eef", "#557", "", "#222"),
                NodeKind::Gone => ("#fff", "#999", " stroke-dasharray=\"4 3\"", "#777"),
                NodeKind::Hidden => ("#eee", "#bbb", " stroke-dasharray=\"2 2\"", "#777"),
            };
            let _ = write!(
                s,
                "<g class=\"node\"><title>{full}</title><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" \
                 height=\"{NODE_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\"{dash}/>\
                 <text x=\"{tx}\" y=\"{ty}\" fill=\"{text}\" font-size=\"12\" font-family=\"monospace\" \
                 text-anchor=\"middle\">{label}</text></g>",
                full = esc(&n.label),
                tx = x + NODE_W / 2,
                ty = y + NODE_H / 2 + 4,
                label = esc(&short(&n.label)),
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// The lineage of volume `current` (`folder/volume`): its ancestry, root
/// first (`lineage` is nearest first, as the engine gives it), then the
/// volume, its snapshots and their clones. Hidden names stay hidden: the
/// caller redacts before.
pub fn lineage(current: &str, lineage: &[LineageStep], snapshots: &[SnapshotInfo]) -> Graph {
    let mut g = Graph::default();
    let mut prev: Option<usize> = None;
    for (col, step) in lineage.iter().rev().enumerate() {
        let kind = if step.snapshot == HIDDEN {
            NodeKind::Hidden
        } else if !step.exists {
            NodeKind::Gone
        } else {
            NodeKind::Plain
        };
        let n = g.add(&step.snapshot, col, 0, kind);
        if let Some(p) = prev {
            g.edges.push((p, n));
        }
        prev = Some(n);
    }
    let col = lineage.len();
    let me = g.add(current, col, 0, NodeKind::Current);
    if let Some(p) = prev {
        g.edges.push((p, me));
    }
    let mut row = 0;
    for s in snapshots {
        let sn = g.add(&format!("@{}", s.name), col + 1, row, NodeKind::Plain);
        g.edges.push((me, sn));
        if s.clones.is_empty() {
            row += 1;
        }
        for c in s.clones.iter().take(MAX_CLONES) {
            let kind = if c == HIDDEN {
                NodeKind::Hidden
            } else {
                NodeKind::Plain
            };
            let cn = g.add(c, col + 2, row, kind);
            g.edges.push((sn, cn));
            row += 1;
        }
        if s.clones.len() > MAX_CLONES {
            let more = format!("… {} more clones", s.clones.len() - MAX_CLONES);
            let cn = g.add(&more, col + 2, row, NodeKind::Gone);
            g.edges.push((sn, cn));
            row += 1;
        }
    }
    g
}

/// Clones drawn per snapshot; the rest are counted in one box (the table
/// below the graph lists them all).
const MAX_CLONES: usize = 12;

/// One line of a chart: points (x, y) in data units.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Stroke colour.
    pub colour: &'static str,
    /// The points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A shaded stretch of x: a phase.
#[derive(Debug, Clone)]
pub struct Band {
    /// Label, drawn at its top.
    pub label: String,
    /// Start (x units).
    pub start: f64,
    /// End (x units).
    pub end: f64,
}

const CW: f64 = 900.0;
const CH: f64 = 340.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// A round step for about `n` ticks over `span`.
fn tick_step(span: f64, n: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart of `series` over shaded `bands`, x and y axes labelled.
/// Empty series draw an empty frame saying so.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    bands: &[Band],
) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    for b in bands {
        x0 = x0.min(b.start);
        x1 = x1.max(b.end);
    }
    let y1 = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        * 1.1;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{CW}\" height=\"{CH}\" \
         viewBox=\"0 0 {CW} {CH}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
        t = esc(title)
    );
    let (pw, ph) = (CW - LEFT - RIGHT, CH - TOP - BOTTOM);
    if !x0.is_finite() || !x1.is_finite() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#777\">no samples</text></svg>",
            CW / 2.0,
            CH / 2.0
        );
        return s;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 > 0.0 { y1 } else { 1.0 };
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + ph - y / y1 * ph;
    for (i, b) in bands.iter().enumerate() {
        let fill = if i % 2 == 0 { "#e8eefc" } else { "#fcf3e3" };
        let (bx, bw) = (sx(b.start), (sx(b.end) - sx(b.start)).max(0.0));
        let _ = write!(
            s,
            "<rect class=\"phase\" x=\"{bx:.1}\" y=\"{TOP}\" width=\"{bw:.1}\" height=\"{ph}\" fill=\"{fill}\">\
             <title>{l}</title></rect><text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"11\" fill=\"#555\">{l}</text>",
            l = esc(&b.label),
            tx = bx + 3.0,
            ty = TOP - 6.0 - if i % 2 == 0 { 0.0 } else { 10.0 } + 10.0,
        );
    }
    // Axes and ticks.
    let _ = write!(
        s,
        "<path class=\"axis\" d=\"M{LEFT} {TOP}V{yb}H{xr}\" fill=\"none\" stroke=\"#333\"/>",
        yb = TOP + ph,
        xr = LEFT + pw
    );
    let ys = tick_step(y1, 5.0);
    let mut y = 0.0;
    while y <= y1 {
        let _ = write!(
            s,
            "<path d=\"M{a} {py:.1}H{b}\" stroke=\"#ddd\"/><text x=\"{tx}\" y=\"{ty:.1}\" font-size=\"11\" \
             text-anchor=\"end\" fill=\"#333\">{v}</text>",
            a = LEFT,
            b = LEFT + pw,
            py = sy(y),
            tx = LEFT - 4.0,
            ty = sy(y) + 4.0,
            v = fmt_num(y)
        );
        y += ys;
    }
    let xs = tick_step(x1 - x0, 8.0);
    let mut x = (x0 / xs).ceil() * xs;
    while x <= x1 {
        let _ = write!(
            s,
            "<text x=\"{px:.1}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{v}</text>",
            px = sx(x),
            ty = TOP + ph + 14.0,
            v = fmt_num(x)
        );
        x += xs;
    }
    let _ = write!(
        s,
        "<text x=\"{cx}\" y=\"{by}\" font-size=\"12\" text-anchor=\"middle\">{xl}</text>\
         <text x=\"14\" y=\"{cy}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {cy})\">{yl}</text>",
        cx = LEFT + pw / 2.0,
        by = CH - 6.0,
        cy = TOP + ph / 2.0,
        xl = esc(x_label),
        yl = esc(y_label)
    );
    for (i, line) in series.iter().enumerate() {
        let mut d = String::new();
        for (j, (x, y)) in line.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if j == 0 { 'M' } else { 'L' },
                sx(*x),
                sy(*y)
            );
        }
        if !d.is_empty() {
            let _ = write!(
                s,
                "<path class=\"series\" d=\"{d}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.8\"><title>{n}</title></path>",
                c = line.colour,
                n = esc(&line.name)
            );
        }
        let lx = LEFT + pw - 140.0;
        let ly = TOP + 14.0 + i as f64 * 16.0;
        let _ = write!(
            s,
            "<path d=\"M{lx} {ly}h20\" stroke=\"{c}\" stroke-width=\"3\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"12\">{n}</text>",
            c = line.colour,
            tx = lx + 26.0,
            ty = ly + 4.0,
            n = esc(&line.name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_engine::{Consistency, Name, Provenance};

    fn step(s: &str, exists: bool) -> LineageStep {
        LineageStep {
            snapshot: s.to_owned(),
            exists,
            taken_at: None,
        }
    }

    #[test]
    fn lineage_runs_from_the_root_to_the_volume_and_its_clones() {
        let snaps = vec![SnapshotInfo {
            folder: Name::new("name", "dev").unwrap(),
            volume: Name::new("name", "b").unwrap(),
            name: Name::new("name", "s2").unwrap(),
            consistency: Consistency::Crash,
            provenance: Provenance::default(),
            clones: vec!["dev/c".into(), HIDDEN.into()],
            created_at: 0,
        }];
        // Nearest first, as the engine gives it.
        let steps = [
            step("dev/a@s1", true),
            step(HIDDEN, false),
            step("x/<y>@z", false),
        ];
        let g = lineage("dev/b", &steps, &snaps);
        let labels: Vec<&str> = g.nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(
            labels,
            ["x/<y>@z", HIDDEN, "dev/a@s1", "dev/b", "@s2", "dev/c", HIDDEN]
        );
        assert_eq!(g.edges, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (4, 6)]);
        assert_eq!(g.nodes[0].kind, NodeKind::Gone);
        assert_eq!(g.nodes[1].kind, NodeKind::Hidden);
        assert_eq!(g.nodes[3].kind, NodeKind::Current);
        let svg = g.svg("lineage of <dev/b>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("x/&lt;y&gt;@z") && !svg.contains("<y>"));
        assert!(svg.contains("lineage of &lt;dev/b&gt;"));
        assert_eq!(svg.matches("class=\"node\"").count(), 7);
        assert_eq!(svg.matches("class=\"edge\"").count(), 6);
    }

    #[test]
    fn a_volume_without_history_is_one_box() {
        let g = lineage("prod/db", &[], &[]);
        assert_eq!(g.nodes.len(), 1);
        assert!(g.edges.is_empty());
        assert!(short(&"x".repeat(40)).ends_with('…'));
    }

    #[test]
    fn line_chart_draws_series_bands_and_escapes() {
        let series = [
            Series {
                name: "p50".into(),
                colour: "#1f77b4",
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)],
            },
            Series {
                name: "p99 <ms>".into(),
                colour: "#d62728",
                points: vec![(0.0, 3.0), (1.0, 9.0), (2.0, 4.0)],
            },
        ];
        let bands = [
            Band {
                label: "idle".into(),
                start: 0.0,
                end: 1.0,
            },
            Band {
                label: "update & <b>".into(),
                start: 1.0,
                end: 2.0,
            },
        ];
        let svg = line_chart("t", "s", "ms", &series, &bands);
        assert_eq!(svg.matches("class=\"series\"").count(), 2);
        assert_eq!(svg.matches("class=\"phase\"").count(), 2);
        assert!(svg.contains("update &amp; &lt;b&gt;") && svg.contains("p99 &lt;ms&gt;"));
        assert!(!svg.contains("<b>"));
        // The first point of p50 sits at the left edge, x0 = LEFT.
        assert!(svg.contains("d=\"M60.0 "), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = line_chart("t", "s", "ms", &[], &[]);
        assert!(svg.contains("no samples") && svg.ends_with("</svg>"));
        assert_eq!(tick_step(10.0, 5.0), 2.0);
        assert_eq!(tick_step(0.0, 5.0), 1.0);
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(0.25), "0.25");
    }
}
