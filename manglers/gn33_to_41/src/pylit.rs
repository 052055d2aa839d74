//! The little of Python's `ast.literal_eval` that GeoNode 4.1's data
//! migrations apply to 3.3 text columns: a map layer's `styles` list and a
//! MapStore attribute's `b'...'` value.

/// A Python string or bytes literal, or a list of literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'` or `"text"`.
    Str(String),
    /// `b'text'`.
    Bytes(String),
    /// `[...]`.
    List(Vec<Literal>),
    /// Anything else `literal_eval` accepts (a number, `None`, `True`), as
    /// Python's `str()` writes it.
    Other(String),
}

impl Literal {
    /// What Python's `str()` gives for the value of a list element.
    pub fn to_python_str(&self) -> String {
        match self {
            Literal::Str(text) => text.clone(),
            Literal::Bytes(text) => format!("b{}", quote(text)),
            Literal::Other(text) => text.clone(),
            Literal::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Literal::repr)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn repr(&self) -> String {
        match self {
            Literal::Str(text) => quote(text),
            other => other.to_python_str(),
        }
    }
}

fn quote(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Parses `text` as one literal; `None` where `literal_eval` would raise
/// (or where the text is beyond this small parser).
pub fn literal_eval(text: &str) -> Option<Literal> {
    let mut parser = Parser {
        chars: text.trim().chars().collect(),
        at: 0,
    };
    let value = parser.value()?;
    parser.skip_spaces();
    (parser.at == parser.chars.len()).then_some(value)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<Literal> {
        self.skip_spaces();
        match self.peek()? {
            '[' => self.list(),
            '\'' | '"' => self.string().map(Literal::Str),
            'b' | 'B' if matches!(self.chars.get(self.at + 1), Some('\'' | '"')) => {
                self.at += 1;
                self.string().map(Literal::Bytes)
            }
            _ => self.bare(),
        }
    }

    fn list(&mut self) -> Option<Literal> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek()? == ']' {
                self.at += 1;
                return Some(Literal::List(items));
            }
            items.push(self.value()?);
            self.skip_spaces();
            match self.peek()? {
                ',' => self.at += 1,
                ']' => {}
                _ => return None,
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.at += 1;
            match c {
                c if c == quote => return Some(out),
                '\\' => {
                    let escaped = self.peek()?;
                    self.at += 1;
                    out.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' | '\'' | '"' => escaped,
                        _ => return None,
                    });
                }
                '\n' => return None,
                c => out.push(c),
            }
        }
    }

    /// A number, `None`, `True` or `False`.
    fn bare(&mut self) -> Option<Literal> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            self.at += 1;
        }
        let token: String = self.chars[start..self.at].iter().collect();
        let known = matches!(token.as_str(), "None" | "True" | "False")
            || (!token.is_empty() && token.parse::<f64>().is_ok());
        known.then_some(Literal::Other(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_lists_parse_as_python_does() {
        assert_eq!(
            literal_eval("['geonode:CA_style', \"b\"]"),
            Some(Literal::List(vec![
                Literal::Str("geonode:CA_style".into()),
                Literal::Str("b".into())
            ]))
        );
        assert_eq!(literal_eval("CA_style"), None);
        assert_eq!(literal_eval("[]"), Some(Literal::List(vec![])));
        assert_eq!(
            literal_eval("[1, None]").unwrap().to_python_str(),
            "[1, None]"
        );
        assert_eq!(literal_eval("b'aGk='"), Some(Literal::Bytes("aGk=".into())));
    }
}
