//! Just enough XML for GeoServer's catalog files (XStream output): where
//! each element is, its attributes and text, and edits that replace a
//! value in place and keep every other byte of the file.
//!
//! Not a general XML parser: no namespaces, no DTD, no validation beyond
//! tags that open and close in order.

use std::{borrow::Cow, ops::Range};

/// One element of a document.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// Tag name.
    pub name: String,
    /// Attributes, values decoded.
    pub attrs: Vec<(String, String)>,
    /// Index of the enclosing element.
    pub parent: Option<usize>,
    /// Bytes between the opening and closing tags (`None`: `<x/>`).
    pub content: Option<Range<usize>>,
    /// The whole element, from its `<` to the end of its closing tag.
    pub span: Range<usize>,
}

/// A parsed document: its elements in document order.
pub(crate) struct Document<'a> {
    text: &'a str,
    elements: Vec<Element>,
}

impl<'a> Document<'a> {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// A tag that does not close, or closes out of order, with its byte offset.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut pos = 0;
        while let Some(found) = memchr::memchr(b'<', &bytes[pos..]) {
            let at = pos + found;
            let rest = &text[at..];
            let skip_to = |end: &str| {
                rest.find(end).map(|i| at + i + end.len()).ok_or_else(|| {
                    // Nine characters, not bytes: `rest` may hold any UTF-8.
                    let shown: String = rest.chars().take(9).collect();
                    format!("byte {at}: `{shown}` is not closed")
                })
            };
            if rest.starts_with("<!--") {
                pos = skip_to("-->")?;
            } else if rest.starts_with("<![CDATA[") {
                pos = skip_to("]]>")?;
            } else if rest.starts_with("<?") {
                pos = skip_to("?>")?;
            } else if rest.starts_with("<!") {
                pos = skip_to(">")?;
            } else if let Some(close) = rest.strip_prefix("</") {
                let end = close
                    .find('>')
                    .ok_or_else(|| format!("byte {at}: closing tag not closed"))?;
                let name = close[..end].trim();
                let index = open
                    .pop()
                    .ok_or_else(|| format!("byte {at}: `</{name}>` closes nothing"))?;
                let element = &mut elements[index];
                if element.name != name {
                    return Err(format!(
                        "byte {at}: `</{name}>` closes `<{}>`",
                        element.name
                    ));
                }
                if let Some(content) = &mut element.content {
                    content.end = at;
                }
                pos = at + 2 + end + 1;
                element.span.end = pos;
            } else {
                let (element, end, self_closing) = start_tag(text, at)?;
                let index = elements.len();
                elements.push(Element {
                    parent: open.last().copied(),
                    content: (!self_closing).then_some(end..end),
                    span: at..end,
                    ..element
                });
                if !self_closing {
                    open.push(index);
                }
                pos = end;
            }
        }
        if let Some(&index) = open.last() {
            return Err(format!("`<{}>` is never closed", elements[index].name));
        }
        Ok(Self { text, elements })
    }

    /// Indexes of the elements named `name`, in document order.
    pub fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        self.elements
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.name == name)
            .map(|(i, _)| i)
    }

    /// Indexes of the direct children of `parent` named `name`.
    pub fn children<'s>(
        &'s self,
        parent: usize,
        name: &'s str,
    ) -> impl Iterator<Item = usize> + 's {
        self.elements
            .iter()
            .enumerate()
            .skip(parent + 1)
            .filter(move |(_, e)| e.parent == Some(parent) && e.name == name)
            .map(|(i, _)| i)
    }

    /// The first direct child of `parent` named `name`.
    pub fn child(&self, parent: usize, name: &str) -> Option<usize> {
        self.children(parent, name).next()
    }

    /// The decoded text of a leaf element (empty for `<x/>`).
    pub fn text(&self, index: usize) -> String {
        match &self.elements[index].content {
            Some(range) => decode(&self.text[range.clone()]).into_owned(),
            None => String::new(),
        }
    }

    /// The decoded text of the first direct child named `name`.
    pub fn child_text(&self, parent: usize, name: &str) -> Option<String> {
        self.child(parent, name).map(|i| self.text(i))
    }

    /// An attribute's decoded value.
    pub fn attr(&self, index: usize, name: &str) -> Option<&str> {
        self.elements[index]
            .attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The edit that sets an element's text to `value` (escaped here): its
    /// content replaced, or `<x a="1"/>` rewritten as `<x a="1">value</x>`.
    pub fn set_text(&self, index: usize, value: &str) -> (Range<usize>, String) {
        let element = &self.elements[index];
        match &element.content {
            Some(range) => (range.clone(), escape(value)),
            None => {
                let span = element.span.clone();
                let tag = self.text[span.start..span.end - 2].trim_end();
                (span, format!("{tag}>{}</{}>", escape(value), element.name))
            }
        }
    }

    /// Where the content of an element ends (before its closing tag).
    pub fn content_end(&self, index: usize) -> Option<usize> {
        self.elements[index].content.as_ref().map(|r| r.end)
    }

    /// The indentation of the line an element's content ends on (its
    /// closing tag's indentation), for inserting siblings of its children.
    pub fn closing_indent(&self, index: usize) -> &str {
        let Some(range) = &self.elements[index].content else {
            return "";
        };
        let before = &self.text[..range.end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = &before[line_start..];
        if line.trim().is_empty() {
            line
        } else {
            ""
        }
    }
}

/// Parses the start tag at `at`: the element, the offset after `>`, and
/// whether it is self-closing.
fn start_tag(text: &str, at: usize) -> Result<(Element, usize, bool), String> {
    let bytes = text.as_bytes();
    let mut pos = at + 1;
    let name_end = text[pos..]
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .map(|i| pos + i)
        .ok_or_else(|| format!("byte {at}: tag not closed"))?;
    let name = text[pos..name_end].to_owned();
    if name.is_empty() {
        return Err(format!("byte {at}: a tag without a name"));
    }
    pos = name_end;
    let mut attrs = Vec::new();
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        match bytes.get(pos) {
            None => return Err(format!("byte {at}: `<{name}` is not closed")),
            Some(b'>') => return Ok((element(name, attrs), pos + 1, false)),
            Some(b'/') if bytes.get(pos + 1) == Some(&b'>') => {
                return Ok((element(name, attrs), pos + 2, true))
            }
            Some(_) => {
                let eq = text[pos..].find('=').map(|i| pos + i).ok_or_else(|| {
                    format!("byte {pos}: attribute without a value in `<{name}>`")
                })?;
                let key = text[pos..eq].trim().to_owned();
                let mut q = eq + 1;
                while q < bytes.len() && bytes[q].is_ascii_whitespace() {
                    q += 1;
                }
                let quote = *bytes
                    .get(q)
                    .filter(|b| **b == b'"' || **b == b'\'')
                    .ok_or_else(|| format!("byte {q}: unquoted attribute in `<{name}>`"))?;
                let value_end = memchr::memchr(quote, &bytes[q + 1..])
                    .map(|i| q + 1 + i)
                    .ok_or_else(|| format!("byte {q}: attribute value not closed in `<{name}>`"))?;
                attrs.push((key, decode(&text[q + 1..value_end]).into_owned()));
                pos = value_end + 1;
            }
        }
    }
}

fn element(name: String, attrs: Vec<(String, String)>) -> Element {
    Element {
        name,
        attrs,
        parent: None,
        content: None,
        span: 0..0,
    }
}

/// Decodes character references and CDATA sections in element text.
pub(crate) fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') && !raw.contains("<![CDATA[") {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            out.push_str(&cdata[..end]);
            rest = cdata.get(end + 3..).unwrap_or("");
            continue;
        }
        if rest.starts_with('<') {
            out.push('<');
            rest = &rest[1..];
            continue;
        }
        let Some(semi) = rest.find(';').filter(|&s| s <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Escapes text for element content.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Applies edits (byte range of the original, replacement) and returns the
/// new text; an empty range inserts.
///
/// # Errors
///
/// When two edits overlap (an element to change nested in another one to
/// change, e.g. `<location>` in `<location>`): which one wins is not clear.
pub(crate) fn apply(text: &str, mut edits: Vec<(Range<usize>, String)>) -> Result<String, String> {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut pos = 0;
    for (range, replacement) in edits {
        if range.start < pos {
            return Err(format!(
                "byte {}: a value to change is inside another value to change",
                range.start
            ));
        }
        out.push_str(&text[pos..range.start]);
        out.push_str(&replacement);
        pos = range.end;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{apply, decode, escape, Document};

    const STORE: &str = r#"<?xml version="1.0"?>
<!-- a comment with <tags> -->
<dataStore>
  <name>sf &amp; co</name>
  <connectionParameters>
    <entry key="host">localhost</entry>
    <entry key='passwd'><![CDATA[a<b]]></entry>
    <entry key="empty"/>
  </connectionParameters>
</dataStore>
"#;

    #[test]
    fn finds_elements_text_and_attributes() {
        let doc = Document::parse(STORE).unwrap();
        let store = doc.named("dataStore").next().unwrap();
        assert_eq!(doc.child_text(store, "name").as_deref(), Some("sf & co"));
        let params = doc.child(store, "connectionParameters").unwrap();
        let entries: Vec<(String, String)> = doc
            .children(params, "entry")
            .map(|i| (doc.attr(i, "key").unwrap().to_owned(), doc.text(i)))
            .collect();
        assert_eq!(
            entries,
            [
                ("host".into(), "localhost".into()),
                ("passwd".into(), "a<b".into()),
                ("empty".into(), String::new()),
            ]
        );
        assert_eq!(doc.closing_indent(params), "  ");
    }

    #[test]
    fn edits_keep_every_other_byte() {
        let doc = Document::parse(STORE).unwrap();
        let host = doc
            .named("entry")
            .find(|&i| doc.attr(i, "key") == Some("host"))
            .unwrap();
        let empty = doc
            .named("entry")
            .find(|&i| doc.attr(i, "key") == Some("empty"))
            .unwrap();
        let out = apply(
            STORE,
            vec![doc.set_text(host, "db<1>&"), doc.set_text(empty, "x")],
        )
        .unwrap();
        assert_eq!(
            out,
            STORE
                .replace(">localhost<", ">db&lt;1&gt;&amp;<")
                .replace(r#"<entry key="empty"/>"#, r#"<entry key="empty">x</entry>"#)
        );
        assert_eq!(escape("a&b"), "a&amp;b");
        // Found by fuzzing: nested elements both changed panicked.
        let nested = "<l>a<l>b</l></l>";
        let doc = Document::parse(nested).unwrap();
        let edits = doc.named("l").map(|i| doc.set_text(i, "x")).collect();
        assert_eq!(
            apply(nested, edits),
            Err("byte 7: a value to change is inside another value to change".to_owned())
        );
    }

    #[test]
    fn refuses_broken_documents() {
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "</a>",
            "<a x=1></a>",
            "<a><!-- x</a>",
            // Found by fuzzing: the message cut a character in two.
            "<a><!--\u{e9}\u{e9}\u{e9}\u{e9}</a>",
        ] {
            assert!(Document::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decodes_references() {
        assert_eq!(decode("a&#65;&#x42;&lt;&bogus;&"), "aAB<&bogus;&");
        assert_eq!(decode("plain"), "plain");
    }
}
