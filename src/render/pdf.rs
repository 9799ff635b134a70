//! Printable documents: A4 pages laid out from a flow of headings, paragraphs, list items,
//! boxes to tick and signature blocks, in DejaVu Sans (embedded, subset), with page numbers,
//! the title, author and language in the metadata, and the same bytes for the same document.
//!
//! printpdf draws; the layout (line wrapping, page breaks, keeping a heading with what
//! follows) is done here, measuring each glyph of the embedded font.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFont,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};

use super::{RenderError, Templates};

/// One element of a document, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// Who issues the document, at the top of the first page, over a rule.
    Letterhead(String),
    /// The document title, once, under the letterhead.
    Title(String),
    Heading(String),
    Paragraph(String),
    /// A bulleted item, with an optional term in bold before its text.
    Item {
        term: Option<String>,
        text: String,
    },
    /// Information the register lacks, set apart in red.
    Missing(String),
    /// Framed lines (the short mention, an instruction).
    Framed(Vec<String>),
    /// A line in bold (the purpose a group of boxes is about).
    Strong(String),
    /// A label and a line to write on (the child's name).
    Field(String),
    /// An empty box to tick by hand, and its label.
    Checkbox(String),
    /// Name, date and signature lines for one signatory, kept on one page.
    Signature(String),
}

/// A document to print.
#[derive(Debug, Clone)]
pub struct Document {
    pub title: String,
    /// The organisation issuing it (the PDF author).
    pub author: String,
    pub subject: String,
    /// Printed at the bottom of every page, beside the page number.
    pub footer: String,
    /// A stable identifier (a version hash): the PDF's file identifier.
    pub id: String,
    pub flow: Vec<Flow>,
}

const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.7;
const BOTTOM: f32 = 62.0;
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const BODY: f32 = 10.0;
const INDENT: f32 = 14.0;

const INK: (f32, f32, f32) = (0.12, 0.12, 0.12);
const BLUE: (f32, f32, f32) = (0.0, 0.0, 0.57);
const GREY: (f32, f32, f32) = (0.3, 0.3, 0.3);
const RED: (f32, f32, f32) = (0.64, 0.0, 0.0);

const REGULAR: &str = "F1";
const BOLD: &str = "F2";

/// The two faces, parsed once.
struct Fonts {
    regular: ParsedFont,
    bold: ParsedFont,
}

fn fonts() -> Result<&'static Fonts, RenderError> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    let parse = |path: &str| -> Result<ParsedFont, String> {
        let bytes = Templates::file(path).ok_or_else(|| format!("police `{path}` absente"))?;
        ParsedFont::from_bytes(bytes, 0, &mut Vec::new())
            .ok_or_else(|| format!("police `{path}` illisible"))
    };
    FONTS
        .get_or_init(|| {
            Ok(Fonts {
                regular: parse("assets/fonts/DejaVuSans.ttf")?,
                bold: parse("assets/fonts/DejaVuSans-Bold.ttf")?,
            })
        })
        .as_ref()
        .map_err(|message| RenderError::Render {
            name: "pdf".to_owned(),
            message: message.clone(),
        })
}

impl Fonts {
    fn face(&self, bold: bool) -> &ParsedFont {
        if bold { &self.bold } else { &self.regular }
    }

    /// Width of `text` at `size` points.
    fn width(&self, text: &str, bold: bool, size: f32) -> f32 {
        let face = self.face(bold);
        let units: u32 = text
            .chars()
            .map(|c| {
                face.lookup_glyph_index(c as u32)
                    .and_then(|g| face.get_glyph_width(g))
                    .map_or(0, u32::from)
            })
            .sum();
        units as f32 * size / f32::from(face.units_per_em.max(1))
    }

    /// `text` with what the font cannot draw (most emoji) shown as one `?` per run, joiners
    /// and variation selectors dropped, and control characters made spaces, so that nothing
    /// vanishes silently and nothing breaks the line.
    fn printable(&self, text: &str, bold: bool) -> String {
        let face = self.face(bold);
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '\u{200d}' | '\u{fe0e}' | '\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}' => {}
                c if c.is_control() => out.push(' '),
                c if face.lookup_glyph_index(c as u32).is_some() => out.push(c),
                _ if out.ends_with('?') => {}
                _ => out.push('?'),
            }
        }
        out
    }
}

/// A run of words in one face.
#[derive(Debug, Clone)]
struct Span {
    text: String,
    bold: bool,
}

/// A laid-out line: runs with their x offset.
type Laid = Vec<(f32, Span)>;

/// The page being filled, and the pages done.
struct Pages<'f> {
    fonts: &'f Fonts,
    done: Vec<Vec<Op>>,
    ops: Vec<Op>,
    /// Top of the free space, from the bottom of the page.
    y: f32,
    /// The characters drawn in each face (regular, bold): all the subset fonts keep.
    used: [BTreeSet<char>; 2],
}

impl<'f> Pages<'f> {
    fn new(fonts: &'f Fonts) -> Self {
        Pages {
            fonts,
            done: Vec::new(),
            ops: Vec::new(),
            y: PAGE_HEIGHT - MARGIN,
            used: Default::default(),
        }
    }

    fn break_page(&mut self) {
        self.done.push(std::mem::take(&mut self.ops));
        self.y = PAGE_HEIGHT - MARGIN;
    }

    /// Makes room for `height` points, on a new page if needed.
    fn room(&mut self, height: f32) {
        if self.y - height < BOTTOM && !self.ops.is_empty() {
            self.break_page();
        }
    }

    /// Wraps `spans` to `width`: words break at spaces (never at a no-break space), and a
    /// word longer than the line is cut.
    fn wrap(&self, spans: &[Span], size: f32, width: f32) -> Vec<Laid> {
        let fonts = self.fonts;
        let mut lines: Vec<Laid> = Vec::new();
        let mut line: Laid = Vec::new();
        let mut x = 0.0;
        for span in spans {
            let space = fonts.width(" ", span.bold, size);
            for word in span.text.split(' ').filter(|w| !w.is_empty()) {
                for piece in cut(fonts, word, span.bold, size, width) {
                    let w = fonts.width(&piece, span.bold, size);
                    let gap = if line.is_empty() { 0.0 } else { space };
                    if !line.is_empty() && x + gap + w > width {
                        lines.push(std::mem::take(&mut line));
                        x = 0.0;
                    }
                    let gap = if line.is_empty() { 0.0 } else { space };
                    match line.last_mut() {
                        Some((_, last)) if last.bold == span.bold => {
                            last.text.push(' ');
                            last.text.push_str(&piece);
                        }
                        _ => line.push((
                            x + gap,
                            Span {
                                text: piece.clone(),
                                bold: span.bold,
                            },
                        )),
                    }
                    x += gap + w;
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    fn text_at(&mut self, x: f32, y: f32, span: &Span, size: f32, color: (f32, f32, f32)) {
        let font = if span.bold { BOLD } else { REGULAR };
        self.used[usize::from(span.bold)].extend(span.text.chars());
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: rgb(color) },
            Op::SetFont {
                font: PdfFontHandle::External(FontId(font.to_owned())),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point { x: Pt(x), y: Pt(y) },
            },
            Op::ShowText {
                items: vec![TextItem::Text(span.text.clone())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Lays out wrapped text at `indent`, breaking pages between lines.
    fn text(&mut self, spans: &[Span], size: f32, indent: f32, color: (f32, f32, f32)) {
        let leading = size * 1.4;
        for line in self.wrap(spans, size, TEXT_WIDTH - indent) {
            self.room(leading);
            self.y -= leading;
            for (x, span) in &line {
                self.text_at(MARGIN + indent + x, self.y + size * 0.3, span, size, color);
            }
        }
    }

    /// Height of wrapped text, to keep blocks together.
    fn height(&self, spans: &[Span], size: f32, indent: f32) -> f32 {
        self.wrap(spans, size, TEXT_WIDTH - indent).len() as f32 * size * 1.4
    }

    fn stroke(&mut self, points: &[(f32, f32)], color: (f32, f32, f32), thickness: f32) {
        self.ops.extend([
            Op::SetOutlineColor { col: rgb(color) },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine {
                line: Line {
                    points: points
                        .iter()
                        .map(|&(x, y)| LinePoint {
                            p: Point { x: Pt(x), y: Pt(y) },
                            bezier: false,
                        })
                        .collect(),
                    is_closed: false,
                },
            },
        ]);
    }

    fn frame(&mut self, x: f32, y: f32, width: f32, height: f32, color: (f32, f32, f32)) {
        let mut rectangle = Rect::from_xywh(Pt(x), Pt(y), Pt(width), Pt(height));
        rectangle.mode = Some(PaintMode::Stroke);
        self.ops.extend([
            Op::SetOutlineColor { col: rgb(color) },
            Op::SetOutlineThickness { pt: Pt(0.8) },
            Op::DrawRectangle { rectangle },
        ]);
    }

    fn flow(&mut self, element: &Flow) {
        let plain = |text: &str| {
            vec![Span {
                text: self.fonts.printable(text, false),
                bold: false,
            }]
        };
        let bold = |text: &str| {
            vec![Span {
                text: self.fonts.printable(text, true),
                bold: true,
            }]
        };
        match element {
            Flow::Letterhead(text) => {
                self.text(&bold(text), 11.0, 0.0, BLUE);
                self.y -= 6.0;
                self.stroke(
                    &[(MARGIN, self.y), (PAGE_WIDTH - MARGIN, self.y)],
                    BLUE,
                    1.2,
                );
                self.y -= 14.0;
            }
            Flow::Title(text) => {
                self.text(&bold(text), 17.0, 0.0, INK);
                self.y -= 6.0;
            }
            Flow::Heading(text) => {
                let spans = bold(text);
                // Keep the heading with at least three lines of what follows.
                let need = 14.0 + self.height(&spans, 12.5, 0.0) + 3.0 * BODY * 1.4;
                self.room(need);
                self.y -= 10.0;
                self.text(&spans, 12.5, 0.0, BLUE);
                self.y -= 2.0;
            }
            Flow::Strong(text) => {
                let spans = bold(text);
                // Kept with the first box that follows.
                self.room(6.0 + self.height(&spans, BODY, 0.0) + 24.0);
                self.y -= 6.0;
                self.text(&spans, BODY, 0.0, INK);
            }
            Flow::Field(label) => {
                self.room(22.0);
                self.write_line(label, 260.0);
            }
            Flow::Paragraph(text) => {
                self.y -= 3.0;
                self.text(&plain(text), BODY, 0.0, INK);
            }
            Flow::Item { term, text } => {
                let mut spans = Vec::new();
                if let Some(term) = term {
                    spans.push(Span {
                        text: format!("{}\u{a0}:", self.fonts.printable(term, true)),
                        bold: true,
                    });
                }
                spans.extend(plain(text));
                self.y -= 1.5;
                self.room(BODY * 1.4);
                self.text_at(
                    MARGIN + 4.0,
                    self.y - BODY * 1.1,
                    &plain("•")[0],
                    BODY,
                    BLUE,
                );
                self.text(&spans, BODY, INDENT, INK);
            }
            Flow::Missing(text) => {
                let spans = plain(text);
                let height = self.height(&spans, BODY, INDENT);
                self.room(height + 4.0);
                self.y -= 4.0;
                let (page, mut top) = (self.done.len(), self.y);
                self.text(&spans, BODY, INDENT, RED);
                // A note longer than the room left goes on: its bar starts on the new page.
                if self.done.len() != page {
                    top = PAGE_HEIGHT - MARGIN;
                }
                let bottom = self.y.min(top);
                self.stroke(
                    &[(MARGIN + 3.0, top), (MARGIN + 3.0, bottom - 2.0)],
                    RED,
                    2.5,
                );
            }
            Flow::Framed(lines) => {
                let spans: Vec<Vec<Span>> = lines.iter().map(|l| plain(l)).collect();
                let height: f32 = spans
                    .iter()
                    .map(|s| self.height(s, 9.0, 16.0) + 2.0)
                    .sum::<f32>()
                    + 12.0;
                self.room(height + 8.0);
                self.y -= 8.0;
                let (page, mut top) = (self.done.len(), self.y);
                self.y -= 4.0;
                for line in &spans {
                    self.text(line, 9.0, 8.0, INK);
                    self.y -= 2.0;
                }
                self.y -= 6.0;
                if self.done.len() != page {
                    top = PAGE_HEIGHT - MARGIN;
                }
                self.frame(MARGIN, self.y, TEXT_WIDTH, top - self.y, GREY);
            }
            Flow::Checkbox(label) => {
                let spans = plain(label);
                let height = self.height(&spans, BODY, 22.0);
                self.room(height + 6.0);
                self.y -= 6.0;
                let top = self.y;
                self.frame(MARGIN + 2.0, top - 12.5, 11.0, 11.0, INK);
                self.text(&spans, BODY, 22.0, INK);
            }
            Flow::Signature(who) => {
                // Name, date and signature box: 122 points, never split.
                let block = 124.0;
                self.room(block);
                self.y -= 12.0;
                self.text(&bold(who), BODY, 0.0, INK);
                self.write_line("Nom et prénom", 260.0);
                self.write_line("Date", 120.0);
                self.y -= 16.0;
                let span = Span {
                    text: "Signature\u{a0}:".to_owned(),
                    bold: false,
                };
                self.text_at(MARGIN, self.y, &span, BODY, INK);
                self.frame(MARGIN + 70.0, self.y - 34.0, 200.0, 44.0, GREY);
                self.y -= 36.0;
            }
        }
    }
}

impl Pages<'_> {
    /// « Label : » and a line to write on, `width` points long.
    fn write_line(&mut self, label: &str, width: f32) {
        self.y -= 20.0;
        let span = Span {
            text: format!("{}\u{a0}:", self.fonts.printable(label, false)),
            bold: false,
        };
        let start = MARGIN + self.fonts.width(&span.text, false, BODY) + 6.0;
        self.text_at(MARGIN, self.y, &span, BODY, INK);
        self.stroke(
            &[(start, self.y - 2.0), (start + width, self.y - 2.0)],
            GREY,
            0.6,
        );
    }

    /// The footer of page `number`: the document's line on the left, « Page n sur N » on
    /// the right.
    fn footer(&mut self, text: &str, number: usize, count: usize) {
        let label = format!("Page {number} sur {count}");
        let label_x = PAGE_WIDTH - MARGIN - self.fonts.width(&label, false, 8.0);
        self.stroke(&[(MARGIN, 44.0), (PAGE_WIDTH - MARGIN, 44.0)], GREY, 0.4);
        let span = Span {
            text: self.fonts.printable(text, false),
            bold: false,
        };
        let lines = self.wrap(&[span], 8.0, label_x - MARGIN - 12.0);
        for (row, line) in lines.iter().take(2).enumerate() {
            for (x, span) in line {
                self.text_at(MARGIN + x, 32.0 - row as f32 * 10.0, span, 8.0, GREY);
            }
        }
        let span = Span {
            text: label,
            bold: false,
        };
        self.text_at(label_x, 32.0, &span, 8.0, GREY);
    }
}

/// `word` cut into pieces that fit `width` (a 300-character URL, a line of emoji).
fn cut(fonts: &Fonts, word: &str, bold: bool, size: f32, width: f32) -> Vec<String> {
    if fonts.width(word, bold, size) <= width {
        return vec![word.to_owned()];
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in word.chars() {
        let mut longer = piece.clone();
        longer.push(c);
        if !piece.is_empty() && fonts.width(&longer, bold, size) > width {
            pieces.push(std::mem::take(&mut piece));
            piece.push(c);
        } else {
            piece = longer;
        }
    }
    pieces.push(piece);
    pieces
}

fn rgb((r, g, b): (f32, f32, f32)) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

/// The PDF of `document`.
pub fn write(document: &Document) -> Result<Vec<u8>, RenderError> {
    let fonts = fonts()?;
    let mut pages = Pages::new(fonts);
    for element in &document.flow {
        pages.flow(element);
    }
    if !pages.ops.is_empty() || pages.done.is_empty() {
        pages.break_page();
    }
    let mut done = std::mem::take(&mut pages.done);
    let count = done.len();
    for (index, ops) in done.iter_mut().enumerate() {
        pages.ops = std::mem::take(ops);
        pages.footer(&document.footer, index + 1, count);
        *ops = std::mem::take(&mut pages.ops);
    }
    let (width, height) = (Mm::from(Pt(PAGE_WIDTH)), Mm::from(Pt(PAGE_HEIGHT)));
    let mut pdf = PdfDocument::new(&document.title);
    pdf.metadata.info.author = document.author.clone();
    pdf.metadata.info.subject = document.subject.clone();
    pdf.metadata.info.creator = "registre".to_owned();
    pdf.metadata.info.producer = "registre".to_owned();
    pdf.metadata.info.identifier = document.id.clone();
    let faces = [(REGULAR, &fonts.regular), (BOLD, &fonts.bold)];
    for ((id, face), used) in faces.into_iter().zip(&pages.used) {
        pdf.resources
            .fonts
            .map
            .insert(FontId(id.to_owned()), PdfFont::new(subset(face, used)?));
    }
    pdf.with_pages(
        done.into_iter()
            .map(|ops| PdfPage::new(width, height, ops))
            .collect(),
    );
    let mut lopdf = pdf.to_lopdf_document(&PdfSaveOptions::default(), &mut Vec::new());
    finish(&mut lopdf, &document.id);
    lopdf.compress();
    let mut bytes = Vec::new();
    lopdf.save_to(&mut bytes).map_err(pdf_error)?;
    Ok(bytes)
}

fn pdf_error(e: impl std::fmt::Display) -> RenderError {
    RenderError::Render {
        name: "pdf".to_owned(),
        message: e.to_string(),
    }
}

/// `face` reduced to the glyphs of `used`: a notice embeds a few kilobytes of font, not
/// 700 (printpdf only subsets with its layout engine, which registre does not use).
fn subset(face: &ParsedFont, used: &BTreeSet<char>) -> Result<ParsedFont, RenderError> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{CmapTarget, SubsetProfile, subset};
    let mut glyphs: Vec<u16> = std::iter::once(0)
        .chain(
            used.iter()
                .filter_map(|c| face.lookup_glyph_index(*c as u32)),
        )
        .collect();
    glyphs.sort_unstable();
    glyphs.dedup();
    let font = ReadScope::new(&face.original_bytes)
        .read::<FontData<'_>>()
        .map_err(pdf_error)?;
    let provider = font.table_provider(0).map_err(pdf_error)?;
    let bytes =
        subset(&provider, &glyphs, &SubsetProfile::Pdf, CmapTarget::Unicode).map_err(pdf_error)?;
    ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
        .ok_or_else(|| pdf_error("police réduite illisible"))
}

/// What printpdf leaves out or randomises: the document language (read aloud in French by
/// screen readers) and a file identifier derived from the content, so the same document
/// gives the same bytes.
fn finish(pdf: &mut lopdf::Document, id: &str) {
    use lopdf::{Object, StringFormat};
    if let Ok(root) = pdf.trailer.get(b"Root").and_then(Object::as_reference)
        && let Ok(catalog) = pdf.get_dictionary_mut(root)
    {
        catalog.set(
            "Lang",
            Object::String(b"fr-FR".to_vec(), StringFormat::Literal),
        );
        catalog.set(
            "ViewerPreferences",
            lopdf::dictionary! { "DisplayDocTitle" => true },
        );
    }
    // printpdf dates every document 1970 and claims PDF/X, which these are not.
    if let Ok(info) = pdf.trailer.get(b"Info").and_then(Object::as_reference)
        && let Ok(info) = pdf.get_dictionary_mut(info)
    {
        for key in [
            "CreationDate",
            "ModDate",
            "Trapped",
            "GTS_PDFXVersion",
            "GTS_PDFXConformance",
            "Keywords",
        ] {
            info.remove(key.as_bytes());
        }
    }
    let file_id = Object::String(id.as_bytes().to_vec(), StringFormat::Literal);
    pdf.trailer
        .set("ID", Object::Array(vec![file_id.clone(), file_id]));
}

/// The text of a PDF, page by page, as a reader extracts it (for tests and checks).
pub fn extract_text(bytes: &[u8]) -> Result<Vec<String>, String> {
    let pdf = PdfDocument::parse(bytes, &Default::default(), &mut Vec::new())?;
    Ok(pdf
        .extract_text()
        .into_iter()
        .map(|page| page.join("\n"))
        .collect())
}
