//! USPTO trademark bulk data (the daily and annual "trademark applications"
//! XML, public domain) into the screening index's list format: live word
//! marks in the Nice classes a print shop sells in.
//!
//! Streams the XML (files run to gigabytes) with quick-xml and keeps, per
//! `<case-file>`, the serial number, the mark's words, its drawing code, its
//! status and its international classes.

use std::collections::BTreeMap;
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

/// Nice classes of print-on-demand goods: 25 apparel, 21 mugs, 16 paper
/// goods and stickers, 18 bags, 9 phone cases.
pub const POD_CLASSES: [u16; 5] = [25, 21, 16, 18, 9];

/// One case file as read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CaseFile {
    pub serial: String,
    pub mark: String,
    pub drawing_code: String,
    pub status: u16,
    pub classes: Vec<u16>,
}

impl CaseFile {
    /// Word marks: standard characters (drawing code 4…) or the older
    /// typed drawings (1…). Design marks carry no words to screen.
    pub fn is_word_mark(&self) -> bool {
        matches!(self.drawing_code.chars().next(), Some('1' | '4')) && !self.mark.trim().is_empty()
    }

    /// Live: pending (620–699), registered (700–709) or renewed and
    /// maintained (720–899). Dead: abandoned (600–619), cancelled
    /// (710–719), expired (900+).
    pub fn is_live(&self) -> bool {
        matches!(self.status, 620..=709 | 720..=899)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub case_files: usize,
    pub kept: usize,
    pub dead: usize,
    pub not_words: usize,
    pub other_classes: usize,
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum UsptoError {
    #[error("XML at byte {position}: {reason}")]
    Xml { position: u64, reason: String },
}

/// The character an entity or character reference stands for.
fn resolve_reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        n if n.starts_with("#x") || n.starts_with("#X") => {
            u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32)
        }
        n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
        _ => None,
    }
}

fn assign(cf: &mut CaseFile, leaf: &[u8], text: &str) {
    let text = text.trim();
    match leaf {
        b"serial-number" if cf.serial.is_empty() => cf.serial = text.to_owned(),
        b"mark-identification" => cf.mark = text.to_owned(),
        b"mark-drawing-code" => cf.drawing_code = text.to_owned(),
        b"status-code" => cf.status = text.parse().unwrap_or(0),
        b"international-code" => {
            if let Ok(c) = text.parse::<u16>()
                && !cf.classes.contains(&c)
            {
                cf.classes.push(c);
            }
        }
        _ => {}
    }
}

/// Reads every case file, calling `each` for each.
pub fn read_case_files<R: BufRead>(input: R, mut each: impl FnMut(CaseFile)) -> Result<usize, UsptoError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut current: Option<CaseFile> = None;
    let mut path: Vec<Vec<u8>> = Vec::new();
    // The text of the innermost element, with its references resolved
    // (quick-xml hands `&amp;` over as its own event).
    let mut text = String::new();
    let mut n = 0;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| UsptoError::Xml { position: reader.buffer_position(), reason: e.to_string() })?;
        match ev {
            Event::Start(e) => {
                let name = e.name().as_ref().to_vec();
                if name == b"case-file" {
                    current = Some(CaseFile::default());
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap_or_default()),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                if let Some(c) = resolve_reference(&name) {
                    text.push(c);
                }
            }
            Event::End(_) => {
                let leaf = path.pop();
                if let (Some(cf), Some(leaf)) = (current.as_mut(), leaf.as_deref()) {
                    if leaf == b"case-file" {
                        if let Some(cf) = current.take() {
                            n += 1;
                            each(cf);
                        }
                    } else {
                        assign(cf, leaf, &text);
                    }
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(n)
}

/// The screening list lines (`term<TAB>uspto/<serial><TAB>red<TAB>classes`)
/// of the live word marks in `classes`, one per mark and class set.
pub fn to_list<R: BufRead>(input: R, classes: &[u16]) -> Result<(String, ImportReport), UsptoError> {
    let mut report = ImportReport::default();
    let mut kept: BTreeMap<(String, Vec<u16>), String> = BTreeMap::new();
    report.case_files = read_case_files(input, |cf| {
        if !cf.is_live() {
            report.dead += 1;
            return;
        }
        if !cf.is_word_mark() {
            report.not_words += 1;
            return;
        }
        let mut relevant: Vec<u16> = cf.classes.iter().copied().filter(|c| classes.contains(c)).collect();
        if relevant.is_empty() {
            report.other_classes += 1;
            return;
        }
        relevant.sort_unstable();
        let term = cf.mark.split_whitespace().collect::<Vec<_>>().join(" ");
        if kept.insert((term.to_lowercase(), relevant), cf.serial.clone()).is_some() {
            report.duplicates += 1;
        }
    })?;
    report.kept = kept.len();
    let mut out =
        String::from("# USPTO live word marks (public domain bulk data), written by `pod trademarks import`\n");
    for ((term, classes), serial) in kept {
        let cls: Vec<String> = classes.iter().map(u16::to_string).collect();
        // A leading space keeps a mark like "#1 MOM" from reading as a comment.
        let lead = if term.starts_with('#') { " " } else { "" };
        out.push_str(&format!("{lead}{term}\tuspto/{serial}\tred\t{}\n", cls.join(",")));
    }
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScreeningIndex, verdict};
    use pod_events::domain::idea::Verdict;

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<trademark-applications-daily><application-information><file-segments><action-keys>
<case-file><serial-number>97000001</serial-number><case-file-header><status-code>700</status-code>
  <mark-identification>SUNNY PAWS</mark-identification><mark-drawing-code>4000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>025</international-code></classification>
  <classification><international-code>021</international-code></classification></classifications></case-file>
<case-file><serial-number>97000002</serial-number><case-file-header><status-code>602</status-code>
  <mark-identification>GONE GIRL GEAR</mark-identification><mark-drawing-code>4000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>025</international-code></classification></classifications></case-file>
<case-file><serial-number>97000003</serial-number><case-file-header><status-code>686</status-code>
  <mark-identification>ROCKET LOGO</mark-identification><mark-drawing-code>3000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>025</international-code></classification></classifications></case-file>
<case-file><serial-number>97000004</serial-number><case-file-header><status-code>700</status-code>
  <mark-identification>TORQUE WRENCH PRO</mark-identification><mark-drawing-code>4000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>007</international-code></classification></classifications></case-file>
<case-file><serial-number>97000006</serial-number><case-file-header><status-code>700</status-code>
  <mark-identification>A&amp;W MEOW&#39;S</mark-identification><mark-drawing-code>4000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>025</international-code></classification></classifications></case-file>
<case-file><serial-number>97000007</serial-number><case-file-header><status-code>700</status-code>
  <mark-identification>#1 FUR MOM</mark-identification><mark-drawing-code>4000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>025</international-code></classification></classifications></case-file>
<case-file><serial-number>97000005</serial-number><case-file-header><status-code>800</status-code>
  <mark-identification>Sunny  Paws</mark-identification><mark-drawing-code>1000</mark-drawing-code></case-file-header>
  <classifications><classification><international-code>025</international-code></classification>
  <classification><international-code>021</international-code></classification></classifications></case-file>
</action-keys></file-segments></application-information></trademark-applications-daily>"#;

    #[test]
    fn only_live_word_marks_in_our_classes_are_kept() {
        let (list, report) = to_list(XML.as_bytes(), &POD_CLASSES).unwrap();
        assert_eq!(
            report,
            ImportReport { case_files: 7, kept: 3, dead: 1, not_words: 1, other_classes: 1, duplicates: 1 }
        );
        assert!(list.contains("sunny paws\tuspto/97000005\tred\t21,25\n"), "{list}");
        assert!(list.contains("a&w meow's\tuspto/97000006\tred\t25\n"), "references resolved: {list}");
        let mut idx = ScreeningIndex::default();
        assert_eq!(idx.load_tsv(&list, "list").unwrap(), 3, "#1 FUR MOM is a mark, not a comment");
        assert_eq!(verdict(&idx.screen("Fur Mom Club", Some(25))), Verdict::Green);
        assert_eq!(verdict(&idx.screen("#1 Fur Mom Club", Some(25))), Verdict::Red);
        assert_eq!(verdict(&idx.screen("Sunny Paws Club", Some(25))), Verdict::Red);
        assert_eq!(verdict(&idx.screen("Sunny Paws Club", Some(16))), Verdict::Green);
        assert_eq!(verdict(&idx.screen("Gone Girl Gear", Some(25))), Verdict::Green, "abandoned marks are free");
    }

    #[test]
    fn broken_xml_is_an_error_with_a_position() {
        let err = to_list("<case-file><serial-number>1</serial-number></oops>".as_bytes(), &POD_CLASSES).unwrap_err();
        assert!(matches!(err, UsptoError::Xml { .. }), "{err}");
    }
}
