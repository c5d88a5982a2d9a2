//! Latency-over-time charts (PNG or SVG) drawn with `plotters`.
//!
//! The chart shows client latency (blue) and the app's `response_time_ms`
//! (orange) per successful sample, phases as shaded, labelled bands with a
//! dashed line at each event, failed samples as red crosses on a rail near
//! the top, and version changes as labels along the bottom.
//!
//! Text uses Noto Sans compiled into the binary (crate `ttf-noto-sans`)
//! through plotters' `ab_glyph` font support, so no system fonts or
//! fontconfig are needed, for PNG or SVG. Plotters 0.3.7 rasterises
//! `ab_glyph` text without each glyph's left side bearing (letters overlap:
//! "cl" reads as "d"), so PNG text goes through [`GlyphFix`], a thin
//! backend wrapper that places glyphs correctly; SVG text is emitted as
//! `<text>` and rendered by the viewer.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::record::Record;
use crate::stats::PhaseStats;
use crate::ProbeError;

/// Chart file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    /// A PNG bitmap.
    Png,
    /// An SVG drawing.
    Svg,
}

impl ChartFormat {
    /// Picks the format from the extension (`png` or `svg`).
    pub fn from_path(path: &Path) -> Result<Self, ProbeError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Ok(ChartFormat::Png),
            Some("svg") => Ok(ChartFormat::Svg),
            _ => Err(ProbeError::UnknownChartFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Chart size in pixels.
pub const CHART_SIZE: (u32, u32) = (1280, 640);

const FONT: &str = "sans-serif";

static FONT_ONCE: Once = Once::new();

fn register_fonts() {
    FONT_ONCE.call_once(|| {
        // The bundled font is a valid TTF; a failure here would only mean
        // text is missing, which the draw call then reports.
        let _ = register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR);
    });
}

const BANDS: [RGBColor; 6] = [
    RGBColor(120, 160, 220),
    RGBColor(230, 170, 90),
    RGBColor(120, 190, 120),
    RGBColor(190, 130, 200),
    RGBColor(200, 190, 90),
    RGBColor(110, 190, 190),
];
const LATENCY: RGBColor = RGBColor(31, 90, 180);
const APP_TIME: RGBColor = RGBColor(230, 120, 20);
const ERROR: RGBColor = RGBColor(210, 30, 30);

struct Point {
    x: f64,
    latency: f64,
    app: Option<f64>,
}

/// Draws the chart of `records` split into `phases` (as returned by
/// [`crate::stats::phase_stats`]) to `path`, PNG or SVG by extension.
pub fn draw_chart(
    records: &[Record],
    phases: &[PhaseStats],
    title: &str,
    path: &Path,
) -> Result<(), ProbeError> {
    let format = ChartFormat::from_path(path)?;
    register_fonts();
    let res = match format {
        ChartFormat::Png => {
            let root = GlyphFix(BitMapBackend::new(path, CHART_SIZE)).into_drawing_area();
            draw_on(&root, records, phases, title)
                .and_then(|()| root.present().map_err(|e| e.to_string()))
        }
        ChartFormat::Svg => {
            let root = SVGBackend::new(path, CHART_SIZE).into_drawing_area();
            draw_on(&root, records, phases, title)
                .and_then(|()| root.present().map_err(|e| e.to_string()))
        }
    };
    res.map_err(|reason| ProbeError::Chart {
        path: path.to_path_buf(),
        reason,
    })
}

/// Approximate width of one character of a phase label (14 px font), in pixels.
const LABEL_CHAR_PX: f64 = 5.2;
/// Top of the first label row, and the height of a row, as fractions of the plot's height.
const LABEL_TOP: f64 = 0.015;
const LABEL_ROW: f64 = 0.045;

/// Rows for labels starting at `x` and `width` wide (both as fractions of
/// the plot's width), in order: each goes on the first row whose previous
/// label has ended before it starts.
fn label_rows(spans: &[(f64, f64)]) -> Vec<usize> {
    let mut ends: Vec<f64> = Vec::new();
    spans
        .iter()
        .map(|&(x, width)| {
            let row = ends.iter().position(|&end| end <= x).unwrap_or(ends.len());
            if row == ends.len() {
                ends.push(0.0);
            }
            ends[row] = x + width;
            row
        })
        .collect()
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    records: &[Record],
    phases: &[PhaseStats],
    title: &str,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    root.fill(&WHITE).map_err(e)?;

    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let mut versions: Vec<(f64, String)> = Vec::new();
    let mut x_max: f64 = 1.0;
    for r in records {
        let x = r.offset().as_secs_f64();
        x_max = x_max.max(x);
        if let Record::Sample(s) = r {
            if s.is_ok() {
                ok.push(Point {
                    x,
                    latency: s.latency_ms(),
                    app: s.response_time_ms.filter(|v| v.is_finite()),
                });
            } else {
                errors.push((x, s.status.label()));
            }
            // Each version once, where it was first seen: during a rolling
            // update the answers alternate between old and new many times.
            if let Some(v) = s.version.as_deref() {
                if !versions.iter().any(|(_, seen)| seen == v) {
                    versions.push((x, v.to_string()));
                }
            }
        }
    }
    ok.sort_by(|a, b| a.x.total_cmp(&b.x));
    let x_max = x_max * 1.02;
    let y_data = ok
        .iter()
        .flat_map(|p| [Some(p.latency), p.app])
        .flatten()
        .fold(1.0_f64, f64::max);
    // Phase labels: each on the first row where it does not run into the
    // previous label's text, so narrow neighbouring phases never overprint.
    let labels: Vec<String> = phases
        .iter()
        .map(|ph| {
            let p99 = ph.latency_ms.map_or_else(
                || "no ok samples".to_string(),
                |p| format!("p99 {:.1} ms", p.p99),
            );
            format!("{} · n={} · {} · err {}", ph.name, ph.count, p99, ph.errors)
        })
        .collect();
    // The plot is about the chart's width less the y-axis labels and margins.
    let plot_px = f64::from(CHART_SIZE.0.saturating_sub(100));
    let spans: Vec<(f64, f64)> = phases
        .iter()
        .zip(&labels)
        .map(|(ph, l)| {
            let text = (l.chars().count() as f64 * LABEL_CHAR_PX + 12.0) / plot_px;
            (ph.start_ms / 1000.0 / x_max, text)
        })
        .collect();
    let rows = label_rows(&spans);
    let n_rows = rows.iter().max().map_or(1, |r| r + 1);
    // Head room above the data for the error rail, legend and phase labels.
    let label_area = LABEL_TOP + LABEL_ROW * n_rows as f64;
    let y_max = y_data * (1.6_f64).max(1.25 / (1.0 - label_area));
    let rail = y_data * 1.1;

    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("latency (ms)")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;

    // Phases as bands with their names, events as dashed lines.
    for (i, ph) in phases.iter().enumerate() {
        let x0 = ph.start_ms / 1000.0;
        let x1 = ph.end_ms.map_or(x_max, |v| v / 1000.0).min(x_max);
        let color = BANDS[i % BANDS.len()];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, y_max)],
                color.mix(0.16).filled(),
            )))
            .map_err(e)?;
        if i > 0 || ph.name != "start" {
            let dashes = (0..40).map(|k| {
                let y0 = y_max * f64::from(k) / 40.0;
                PathElement::new(
                    vec![(x0, y0), (x0, y0 + y_max / 80.0)],
                    RGBColor(90, 90, 90).stroke_width(1),
                )
            });
            chart.draw_series(dashes).map_err(e)?;
        }
        let row = rows[i] as f64;
        chart
            .draw_series(std::iter::once(Text::new(
                labels[i].clone(),
                (
                    x0 + x_max * 0.004,
                    y_max * (1.0 - LABEL_TOP - LABEL_ROW * row),
                ),
                (FONT, 14)
                    .into_font()
                    .color(&RGBColor(color.0 / 3, color.1 / 3, color.2 / 3)),
            )))
            .map_err(e)?;
    }
    chart
        .draw_series(LineSeries::new(
            ok.iter().map(|p| (p.x, p.latency)),
            LATENCY.stroke_width(2),
        ))
        .map_err(e)?
        .label("client latency (ms)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], LATENCY.stroke_width(2)));
    chart
        .draw_series(
            ok.iter()
                .map(|p| Circle::new((p.x, p.latency), 2, LATENCY.filled())),
        )
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            ok.iter().filter_map(|p| p.app.map(|a| (p.x, a))),
            APP_TIME.stroke_width(2),
        ))
        .map_err(e)?
        .label("app response_time_ms")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], APP_TIME.stroke_width(2)));
    let n_err = errors.len();
    chart
        .draw_series(
            errors
                .iter()
                .map(|(x, _)| Cross::new((*x, rail), 5, ERROR.stroke_width(2))),
        )
        .map_err(e)?
        .label(format!("failed request ({n_err})"))
        .legend(|(x, y)| Cross::new((x + 9, y), 5, ERROR.stroke_width(2)));
    // Name each distinct error kind once, next to its first cross.
    let mut kinds_seen: Vec<&str> = Vec::new();
    for (x, kind) in &errors {
        if !kinds_seen.contains(&kind.as_str()) && kinds_seen.len() < 6 {
            kinds_seen.push(kind);
            // Right-align labels near the right edge so they stay inside.
            let (lx, h) = if *x > x_max * 0.85 {
                (*x - x_max * 0.004, HPos::Right)
            } else {
                (*x + x_max * 0.004, HPos::Left)
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    kind.clone(),
                    (lx, rail - y_max * 0.015),
                    (FONT, 12)
                        .into_font()
                        .color(&ERROR)
                        .pos(Pos::new(h, VPos::Top)),
                )))
                .map_err(e)?;
        }
    }
    // First appearance of each version along the bottom, labels stacked
    // upwards where they would run into each other.
    let version_spans: Vec<(f64, f64)> = versions
        .iter()
        .map(|(x, v)| (x / x_max, ((v.len() + 8) as f64 * 4.4 + 6.0) / plot_px))
        .collect();
    let version_rows = label_rows(&version_spans);
    for (((x, v), row), (_, width)) in versions
        .iter()
        .zip(version_rows)
        .zip(&version_spans)
        .take(12)
    {
        let grey = RGBColor(60, 60, 60);
        // On a light box: the labels sit among the samples near the axis.
        let (lx, ly) = (*x + x_max * 0.004, y_max * (0.05 + 0.035 * row as f64));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(lx, ly), (lx + width * x_max, ly - y_max * 0.028)],
                WHITE.mix(0.85).filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                (*x, y_max * 0.012),
                5,
                grey.filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("version {v}"),
                (lx, ly),
                (FONT, 12).into_font().color(&grey),
            )))
            .map_err(e)?;
    }

    let (plot_w, plot_h) = chart.plotting_area().dim_in_pixel();
    let legend_x = i32::try_from(plot_w)
        .unwrap_or(i32::MAX)
        .saturating_sub(215)
        .max(0);
    chart
        .configure_series_labels()
        // Top right, below the rows of phase labels.
        .position(SeriesLabelPosition::Coordinate(
            legend_x,
            (f64::from(plot_h) * label_area) as i32 + 12,
        ))
        .margin(8)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(e)?;
    Ok(())
}

pub use glyph::GlyphFix;

/// The PNG text fix, in its own module so that `plotters_backend`'s style
/// traits do not clash with plotters' prelude in the drawing code.
mod glyph {
    use std::sync::OnceLock;

    use ab_glyph::{Font, FontRef, ScaleFont};
    use plotters::prelude::DrawingBackend;
    use plotters::style::text_anchor::{HPos, VPos};
    use plotters_backend::{
        BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
    };

    fn glyph_font() -> Option<&'static FontRef<'static>> {
        static F: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
        F.get_or_init(|| FontRef::try_from_slice(ttf_noto_sans::REGULAR).ok())
            .as_ref()
    }

    /// A drawing backend wrapper that renders text with correct glyph
    /// positions and delegates everything else (see the module docs).
    #[derive(Debug)]
    pub struct GlyphFix<B>(pub B);

    impl<B: DrawingBackend> DrawingBackend for GlyphFix<B> {
        type ErrorType = B::ErrorType;

        fn get_size(&self) -> (u32, u32) {
            self.0.get_size()
        }

        fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.ensure_prepared()
        }

        fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.present()
        }

        fn draw_pixel(
            &mut self,
            point: BackendCoord,
            color: BackendColor,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_pixel(point, color)
        }

        fn draw_line<S: BackendStyle>(
            &mut self,
            from: BackendCoord,
            to: BackendCoord,
            style: &S,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_line(from, to, style)
        }

        fn draw_rect<S: BackendStyle>(
            &mut self,
            upper_left: BackendCoord,
            bottom_right: BackendCoord,
            style: &S,
            fill: bool,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_rect(upper_left, bottom_right, style, fill)
        }

        fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            path: I,
            style: &S,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_path(path, style)
        }

        fn draw_circle<S: BackendStyle>(
            &mut self,
            center: BackendCoord,
            radius: u32,
            style: &S,
            fill: bool,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_circle(center, radius, style, fill)
        }

        fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            vert: I,
            style: &S,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.fill_polygon(vert, style)
        }

        fn blit_bitmap(
            &mut self,
            pos: BackendCoord,
            size: (u32, u32),
            src: &[u8],
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.blit_bitmap(pos, size, src)
        }

        fn draw_text<S: BackendTextStyle>(
            &mut self,
            text: &str,
            style: &S,
            pos: BackendCoord,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            let Some(font) = glyph_font() else {
                return self.0.draw_text(text, style, pos);
            };
            let color = style.color();
            if color.alpha == 0.0 {
                return Ok(());
            }
            // Same layout box and anchoring as plotters' default draw_text.
            let ((min_x, min_y), (max_x, max_y)) = style
                .layout_box(text)
                .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
            let (width, height) = (max_x - min_x, max_y - min_y);
            let dx = match style.anchor().h_pos {
                HPos::Left => 0,
                HPos::Right => -width,
                HPos::Center => -width / 2,
            };
            let dy = match style.anchor().v_pos {
                VPos::Top => 0,
                VPos::Center => -height / 2,
                VPos::Bottom => -height,
            };
            let trans = style.transform();
            let (w, h) = self.0.get_size();
            let size = style.size() as f32;
            let scaled = font.as_scaled(size);
            // Plotters' convention: the baseline sits at half the font size.
            let baseline = size / 2.0;
            let mut caret = 0.0f32;
            let mut prev = None;
            for c in text.chars() {
                let id = font.glyph_id(c);
                if let Some(p) = prev {
                    caret += scaled.kern(p, id);
                }
                prev = Some(id);
                let glyph = id.with_scale_and_position(size, ab_glyph::point(caret, baseline));
                caret += scaled.h_advance(id);
                let Some(outline) = font.outline_glyph(glyph) else {
                    continue;
                };
                let b = outline.px_bounds();
                let mut pixels = Vec::new();
                outline.draw(|x, y, cov| pixels.push((x, y, cov)));
                for (x, y, cov) in pixels {
                    let lx = b.min.x as i32 + x as i32 + dx - min_x;
                    let ly = b.min.y as i32 + y as i32 + dy - min_y;
                    let (tx, ty) = trans.transform(lx, ly);
                    let (px, py) = (pos.0 + tx, pos.1 + ty);
                    if px >= 0 && py >= 0 && px < w as i32 && py < h as i32 && cov > 0.0 {
                        let c = BackendColor {
                            alpha: color.alpha * f64::from(cov.min(1.0)),
                            rgb: color.rgb,
                        };
                        self.0.draw_pixel((px, py), c)?;
                    }
                }
            }
            Ok(())
        }

        fn estimate_text_size<S: BackendTextStyle>(
            &self,
            text: &str,
            style: &S,
        ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
            self.0.estimate_text_size(text, style)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::label_rows;

    fn check(spans: &[(f64, f64)], want: &[usize]) {
        assert_eq!(label_rows(spans), want, "{spans:?}");
    }

    #[test]
    fn labels_take_the_first_free_row() {
        // Wide apart: all on the first row.
        check(&[(0.0, 0.1), (0.2, 0.1), (0.5, 0.1)], &[0, 0, 0]);
        // Each starts before the previous text ends: a new row each time.
        check(&[(0.0, 0.5), (0.1, 0.5), (0.2, 0.5)], &[0, 1, 2]);
        // The first row frees up again once its label has ended.
        check(
            &[(0.0, 0.3), (0.1, 0.3), (0.35, 0.3), (0.45, 0.1)],
            &[0, 1, 0, 1],
        );
        check(&[], &[]);
    }
}
